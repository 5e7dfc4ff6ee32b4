// The tape: deep graphs, flat memory over long loops, release, and misuse.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <thread>

#include "helpers.hpp"

using namespace xtgrad;
using namespace xtgrad::testing;

BOOST_AUTO_TEST_CASE(chain_of_100000_ops_has_no_recursion) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{1.0});
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y * 1.00001;
    auto total = sum(y);
    total.backward(/*retain_graph=*/true);
    BOOST_TEST(tape.size() == 100002u);  // leaf, 100000 muls, sum
    BOOST_TEST(std::abs(x.grad()(0) - std::pow(1.00001, 100000)) < 1e-9);
    total.backward();  // frees the graph: the whole tape, in one step and without recursion
    BOOST_TEST(tape.size() == 0u);
}

BOOST_AUTO_TEST_CASE(memory_is_flat_over_100000_cycles) {
    auto W = param({4, 3}, 1);
    auto x = Tensor::constant(uniform({2, 4}, 2));
    Tape tape;
    auto cycle = [&] {
        auto loss = sum(tanh(matmul(x, W)));
        loss.backward();
        tape.release();
    };
    for (int i = 0; i < 1000; ++i) cycle();  // warm up: arena, caches, malloc's bins
    W.zero_grad();
    cycle();
    std::size_t arena = tape.arena_bytes();
    std::size_t pool = pool_stats().bytes_in_use;
    // glibc's per-thread cache keeps a few freed chunks counted as in use, so the heap
    // figure wobbles by a few hundred bytes; a leak of even one byte per cycle would add
    // 100 kB over the loop.
    std::size_t heap_min = SIZE_MAX, heap_max = 0;
    for (int block = 0; block < 5; ++block) {
        for (int i = 0; i < 20000; ++i) cycle();
        std::size_t heap = mallinfo2().uordblks;
        heap_min = std::min(heap_min, heap);
        heap_max = std::max(heap_max, heap);
    }
    BOOST_TEST(tape.size() == 0u);
    BOOST_TEST(tape.arena_bytes() == arena);
    BOOST_TEST(pool_stats().bytes_in_use == pool);
    BOOST_TEST(heap_max - heap_min < 4096u);
}

// The loop as PyTorch code writes it: one Tape outside, no release(). backward() frees each
// step's graph, and with every graph freed the tape empties itself, so nodes, arena and pooled
// bytes stay flat (issue 10: this loop used to grow by every step's nodes).
BOOST_AUTO_TEST_CASE(a_loop_without_release_stays_flat) {
    auto W = param({4, 3}, 3);
    auto x = Tensor::constant(uniform({2, 4}, 4));
    Tape tape;
    auto step = [&] {
        W.zero_grad();
        auto loss = sum(tanh(matmul(x, W)));
        loss.backward();
        W.set_value(W.value() - 0.01 * W.grad());
        return loss;
    };
    Tensor last;
    for (int i = 0; i < 200; ++i) last = step();
    std::size_t arena = tape.arena_bytes(), pool = pool_stats().bytes_in_use;
    for (int i = 0; i < 5000; ++i) last = step();
    BOOST_TEST(tape.size() == 0u);
    BOOST_TEST(tape.arena_bytes() == arena);
    BOOST_TEST(pool_stats().bytes_in_use == pool);
    // the freed graph cannot be swept again, and says why
    expect_error<TapeError>([&] { last.backward(); }, "was computed by a graph that backward() has already freed");
    // two graphs on one tape: freeing one leaves the other usable
    auto a = sum(W * 2.0), b = sum(W * W);
    a.backward();
    BOOST_TEST(tape.size() > 0u);
    BOOST_CHECK_NO_THROW(b.backward());
    BOOST_TEST(tape.size() == 0u);
}

BOOST_AUTO_TEST_CASE(released_tape_is_a_clear_error) {
    Tape tape;
    auto x = Tensor::parameter(Array<double>{1.0, 2.0});
    auto y = x * 2.0;
    tape.release();
    BOOST_TEST(y.value()(1) == 4.0);  // values stay readable
    expect_error<TapeError>([&] { exp(y); },
                            "exp: input 0 (shape [2]) was recorded on a tape that has since been released");
    expect_error<TapeError>([&] { sum(y).backward(); }, "released");
    expect_error<TapeError>([&] { y.backward(Tensor::constant(Array<double>{1.0, 1.0})); }, "backward");
}

BOOST_AUTO_TEST_CASE(destroyed_tape_is_a_clear_error) {
    Tensor y;
    auto x = Tensor::parameter(Array<double>{1.0});
    {
        Tape tape;
        y = x * 2.0;
    }
    Tape other;
    expect_error<TapeError>([&] { y + 1.0; },
                            "add: input 0 (shape [1]) was recorded on a tape that has since been released");
}

BOOST_AUTO_TEST_CASE(mixing_tapes_is_a_clear_error) {
    auto x = Tensor::parameter(Array<double>{1.0});
    Tape outer;
    auto a = x * 2.0;
    Tape inner;
    auto b = x * 3.0;
    expect_error<TapeError>([&] { a + b; },
                            "add: input 0 (shape [1]) was recorded on another tape than the active one");
}

BOOST_AUTO_TEST_CASE(no_active_tape_is_a_clear_error) {
    auto x = Tensor::parameter(Array<double>{1.0});
    expect_error<TapeError>([&] { exp(x); }, "exp: an input requires a gradient but no Tape is active");
    NoGrad no_grad;
    BOOST_TEST(exp(x).value()(0) == std::exp(1.0));  // fine without recording
}

BOOST_AUTO_TEST_CASE(leaves_survive_tapes) {
    auto W = Tensor::parameter(Array<double>{2.0});
    for (int i = 0; i < 3; ++i) {
        Tape tape;
        sum(W * W).backward();
    }
    BOOST_TEST(W.grad()(0) == 12.0);
}

// Tensors of different dtypes do not mix: it does not compile.
static_assert(
    !std::is_invocable_v<decltype([](auto a, auto b) -> decltype(a + b) { return a + b; }), Tensor, Tensor32>);
static_assert(std::is_invocable_v<decltype([](auto a, auto b) -> decltype(a + b) { return a + b; }), Tensor, Tensor>);

// A tape and its tensors belong to the thread that made it (issue 10): using a tensor on
// another thread says so, and destroying a tape there stops the process with a message
// instead of corrupting memory (a destructor cannot throw).
BOOST_AUTO_TEST_CASE(tapes_belong_to_their_thread) {
    Tape tape;
    auto y = exp(param({2}, 5));
    std::string message;
    std::thread other([&] {
        Tape own;
        try {
            exp(y);
        } catch (const TapeError& e) {
            message = e.what();
        }
    });
    other.join();
    BOOST_TEST(message.find("exp: input 0 (shape [2]) was recorded on a tape of another thread") != std::string::npos,
               message);
    int pipe_fds[2];
    BOOST_REQUIRE(::pipe(pipe_fds) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {  // the child destroys a tape on a second thread
        ::dup2(pipe_fds[1], STDERR_FILENO);
        std::signal(SIGABRT, SIG_DFL);  // Boost.Test's handler would turn the abort into a report
        auto owned = std::make_unique<Tape>();
        std::thread killer([&] { owned.reset(); });
        killer.join();
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string said;
    char buffer[512];
    for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) said.append(buffer, std::size_t(n));
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT));
    BOOST_TEST(said.find("a Tape was destroyed on another thread than the one that made it") != std::string::npos,
               said);
}
