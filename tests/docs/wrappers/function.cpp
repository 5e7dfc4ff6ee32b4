// A fragment made of statements, compiled inside a function body. Its own #include lines are
// hoisted to the top of the file, and a `using namespace` stays local to it.
void snippet() {
    // @snippet
}
