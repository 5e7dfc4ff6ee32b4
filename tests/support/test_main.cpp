// The main of every Boost.Test program here, compiled once. A file that defines
// BOOST_TEST_MODULE has <boost/test/unit_test.hpp> generate main and the master suite's name,
// so that header could not be precompiled; with main here, the tests' precompiled header holds
// it (half a second of parsing a file, in every build that compiles the tests). The master
// suite takes the program's name as ctest gives it: test_optim_kfac runs as optim_kfac.
#include <string>
#include <string_view>

#include <boost/test/unit_test.hpp>

namespace {
bool name_the_master_suite() {
    auto& master = boost::unit_test::framework::master_test_suite();
    std::string_view name = master.argc > 0 ? master.argv[0] : "xtgrad";
    name.remove_prefix(name.find_last_of('/') + 1);  // npos + 1 == 0: no directory
    if (name.starts_with("test_")) name.remove_prefix(5);
    master.p_name.value = std::string(name);
    return true;
}
}  // namespace

int main(int argc, char* argv[]) { return boost::unit_test::unit_test_main(&name_the_master_suite, argc, argv); }
