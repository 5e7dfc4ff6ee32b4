// Turns every C++ block of the given Markdown files into one translation unit per file, so
// that a snippet in the docs that drifts from the API fails to compile (as Rust's doctests
// do). A block is either
//   - a complete program (it defines `int main`), compiled as it stands, or
//   - a fragment preceded by a marker naming the wrapper it needs:
//       <!-- snippet: WRAPPER -->    WRAPPER.cpp from the wrapper folder, whose line
//                                    `// @snippet` is replaced by the block
//       <!-- snippet: continues -->  appended to the previous block of the same file
//                                    (a tutorial told in several blocks)
// An unmarked fragment is an error naming the file and line. `#line` directives make the
// compiler's messages point at the Markdown file, not at the generated one.
//
// Usage: extract_snippets <wrapper dir> <output.cpp> <file.md>
#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Line {
    std::string text, file;
    int number;
};

struct Snippet {
    std::string wrapper;  // empty for a complete program
    std::vector<Line> lines;
};

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string trimmed(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The wrapper named by `<!-- snippet: NAME -->` on this line, or "". (Plain string search:
// <regex> alone would double this tool's compile time.)
std::string marker_of(const std::string& line) {
    std::string t = trimmed(line);
    const std::string open = "<!--", close = "-->";
    if (t.rfind(open, 0) != 0 || t.size() < open.size() + close.size() ||
        t.compare(t.size() - close.size(), close.size(), close) != 0)
        return "";
    std::string inside = trimmed(t.substr(open.size(), t.size() - open.size() - close.size()));
    const std::string key = "snippet:";
    if (inside.rfind(key, 0) != 0) return "";
    std::string name = trimmed(inside.substr(key.size()));
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return "";
    return name;
}

// Where `int main(` starts in the line (any spaces between the tokens), or npos.
std::size_t find_main(const std::string& line) {
    for (std::size_t at = line.find("int"); at != std::string::npos; at = line.find("int", at + 1)) {
        if (at > 0 && (std::isalnum(static_cast<unsigned char>(line[at - 1])) || line[at - 1] == '_')) continue;
        std::size_t k = at + 3, spaces = k;
        while (k < line.size() && std::isspace(static_cast<unsigned char>(line[k]))) ++k;
        if (k == spaces || line.compare(k, 4, "main") != 0) continue;
        k += 4;
        while (k < line.size() && std::isspace(static_cast<unsigned char>(line[k]))) ++k;
        if (k < line.size() && line[k] == '(') return at;
    }
    return std::string::npos;
}

std::vector<Snippet> extract(const std::string& md) {
    auto lines = read_lines(md);
    std::vector<Snippet> out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string t = trimmed(lines[i]);
        if (t.rfind("```", 0) != 0) continue;
        std::string info = trimmed(t.substr(3));
        std::size_t end = i + 1;
        while (end < lines.size() && trimmed(lines[end]).rfind("```", 0) != 0) ++end;
        if (end == lines.size())
            throw std::runtime_error(md + ":" + std::to_string(i + 1) + ": code block is not closed");
        bool cpp = info == "cpp" || info == "c++" || info.rfind("cpp ", 0) == 0;
        if (cpp) {
            std::string wrapper;
            for (std::size_t k = i; k-- > 0;) {  // the nearest non-blank line above the fence
                if (trimmed(lines[k]).empty()) continue;
                wrapper = marker_of(lines[k]);
                break;
            }
            Snippet s{wrapper, {}};
            bool has_main = false;
            for (std::size_t k = i + 1; k < end; ++k) {
                s.lines.push_back({lines[k], md, int(k + 1)});
                has_main = has_main || find_main(lines[k]) != std::string::npos;
            }
            if (wrapper.empty() && !has_main)
                throw std::runtime_error(md + ":" + std::to_string(i + 1) +
                                         ": a C++ block that is not a complete program (no `int main`) needs a "
                                         "<!-- snippet: WRAPPER --> line above it naming the context it needs");
            if (wrapper == "continues") {
                if (out.empty())
                    throw std::runtime_error(md + ":" + std::to_string(i + 1) +
                                             ": 'continues' with no block before it");
                out.back().lines.insert(out.back().lines.end(), s.lines.begin(), s.lines.end());
            } else {
                out.push_back(std::move(s));
            }
        }
        i = end;
    }
    return out;
}

bool is_include(const std::string& line) {
    return trimmed(line).rfind("#include", 0) == 0;
}

// Emits `lines` with #line directives, skipping #include lines (hoisted to the top).
void emit(std::ostream& os, const std::vector<Line>& lines) {
    int expected = -1;
    std::string file;
    for (auto& l : lines) {
        if (is_include(l.text)) continue;
        if (l.file != file || l.number != expected) os << "#line " << l.number << " \"" << l.file << "\"\n";
        os << l.text << "\n";
        file = l.file;
        expected = l.number + 1;
    }
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 4) {
        std::cerr << "usage: extract_snippets <wrapper dir> <output.cpp> <file.md>\n";
        return 2;
    }
    std::string wrappers = argv[1], output = argv[2], md = argv[3];
    auto snippets = extract(md);
    std::ostringstream includes, bodies;
    includes << "// Generated from " << md << " by extract_snippets: do not edit.\n";
    int n = 0;
    for (auto& s : snippets) {
        std::vector<Line> code;
        if (s.wrapper.empty()) {
            code = s.lines;
            for (auto& l : code)
                if (std::size_t at = find_main(l.text); at != std::string::npos)
                    l.text = l.text.substr(0, at) + "int main_" + l.text.substr(l.text.find('(', at));
        } else {
            std::string path = wrappers + "/" + s.wrapper + ".cpp";
            auto wrapper = read_lines(path);
            bool placed = false;
            for (std::size_t k = 0; k < wrapper.size(); ++k) {
                if (trimmed(wrapper[k]) == "// @snippet") {
                    code.insert(code.end(), s.lines.begin(), s.lines.end());
                    placed = true;
                } else {
                    code.push_back({wrapper[k], path, int(k + 1)});
                }
            }
            if (!placed) throw std::runtime_error(path + ": no '// @snippet' line");
        }
        for (auto& l : code)
            if (is_include(l.text)) includes << trimmed(l.text) << "\n";
        bodies << "namespace doc_snippet_" << n++ << " {\n";
        emit(bodies, code);
        bodies << "}\n";
    }
    if (snippets.empty()) bodies << "// no C++ blocks\n";
    std::string text = includes.str() + bodies.str();
    std::ifstream old(output);
    std::stringstream existing;
    existing << old.rdbuf();
    if (existing.str() != text) {  // unchanged output keeps its time stamp: no needless rebuild
        std::ofstream out(output);
        out << text;
        if (!out) throw std::runtime_error("cannot write " + output);
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "extract_snippets: " << e.what() << "\n";
    return 1;
}
