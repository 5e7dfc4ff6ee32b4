// Data: the shipped data sets load with their documented shapes; CSV errors name file and
// line; standardisation, splits, batches and encodings.
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>

#include <zlib.h>

#include "helpers.hpp"
#include "xtgrad/nn.hpp"

using namespace xtgrad;
using namespace xtgrad::nn;
using namespace xtgrad::testing;

namespace {
const std::string kData = XTGRAD_DATA_DIR;

std::string temp_file(const std::string& name, const std::string& content) {
    std::string path = "/tmp/xtgrad_test_" + std::to_string(::getpid()) + "_" + name;
    std::ofstream(path) << content;
    return path;
}
}  // namespace

BOOST_AUTO_TEST_CASE(shipped_data_sets) {
    auto digits = load_csv(kData + "/digits.csv.gz");
    BOOST_TEST(digits.features.shape() == Shape({1797, 64}));
    auto labels = to_labels(digits.target);
    BOOST_TEST(*std::max_element(labels.begin(), labels.end()) == 9u);
    BOOST_TEST(xt::amax(digits.features)() == 16.0);

    auto cancer = load_csv(kData + "/breast_cancer.csv", {.header_lines = 1});
    BOOST_TEST(cancer.features.shape() == Shape({569, 30}));
    auto cl = to_labels(cancer.target);
    BOOST_TEST(std::count(cl.begin(), cl.end(), 0u) == 212);

    auto x = load_csv(kData + "/diabetes_data_raw.csv", {.delimiter = ' ', .has_label = false});
    auto y = load_csv(kData + "/diabetes_target.csv", {.delimiter = ' ', .has_label = false});
    BOOST_TEST(x.features.shape() == Shape({442, 10}));
    BOOST_TEST(y.features.shape() == Shape({442, 1}));

    auto iris = load_csv(kData + "/iris.csv", {.header_lines = 1, .label_column = 4});
    BOOST_TEST(iris.features.shape() == Shape({150, 4}));
}

BOOST_AUTO_TEST_CASE(csv_errors_name_file_and_line) {
    auto ragged = temp_file("ragged.csv", "1,2,3\n4,5,6\n7,8\n");
    expect_error<ValueError>([&] { load_csv(ragged); }, ragged + ":3: 2 fields, expected 3");
    auto text = temp_file("text.csv", "a,b\n1,2\n3,x\n");
    expect_error<ValueError>([&] { load_csv(text, {.header_lines = 1}); }, text + ":3: column 3: 'x' is not a number");
    // a number followed by other characters is not a number (strtod reads its prefix); spaces
    // around it are allowed
    auto suffixed = temp_file("suffixed.csv", "1,2\n3 ,4.5kg\n");
    expect_error<ValueError>([&] { load_csv(suffixed); }, suffixed + ":2: column 4: '4.5kg' is not a number");
    auto spaced = temp_file("spaced.csv", "1, 2\n3 ,4.5 \n");
    BOOST_TEST(load_csv(spaced).target(1) == 4.5);
    expect_error<IoError>([&] { load_csv("/nonexistent/file.csv"); }, "load_csv: cannot open '/nonexistent/file.csv'");
    auto empty = temp_file("empty.csv", "header\n");
    expect_error<ValueError>([&] { load_csv(empty, {.header_lines = 1}); }, "no data rows");
    auto two = temp_file("two.csv", "1,2\n3,4\n");
    expect_error<ValueError>([&] { load_csv(two, {.label_column = 5}); }, "label column 5 out of range for 2 columns");
    // a truncated gzip file is reported, not read as shorter data
    std::string gz = "/tmp/xtgrad_test_" + std::to_string(::getpid()) + "_trunc.csv.gz";
    {
        gzFile f = gzopen(gz.c_str(), "wb");
        for (int i = 0; i < 2000; ++i) gzprintf(f, "%d,%d,%d\n", i, i + 1, i % 3);
        gzclose(f);
    }
    std::ifstream in(gz, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(gz, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
    expect_error<IoError>([&] { load_csv(gz); }, "is damaged or truncated");
    for (auto& p : {ragged, text, empty, two, gz}) std::remove(p.c_str());
}

// Hostile CSV input found by fuzzing (issue 10): each is a clear error naming the line and
// column, or a correct result.
BOOST_AUTO_TEST_CASE(csv_hostile_input) {
    std::vector<std::string> files;
    auto file = [&](const std::string& name, const std::string& bytes) {
        files.push_back(temp_file(name, bytes));
        return files.back();
    };
    // a whitespace-only line with the space delimiter is skipped like an empty one (it used to
    // become a row of zero fields and the reader read past its buffer)
    auto spaces = file("spaces.csv", "   \n1 2\n");
    auto t = load_csv(spaces, {.delimiter = ' ', .has_label = false});
    BOOST_TEST(t.features.shape()[0] == 1u);
    BOOST_TEST(t.features(0, 1) == 2.0);
    auto labelled = load_csv(spaces, {.delimiter = ' '});
    BOOST_TEST(labelled.target(0) == 2.0);
    // a blank field is an error, not a zero
    auto blank_field = file("blank.csv", "1,2,3\n1, ,3\n");
    expect_error<ValueError>([&] { load_csv(blank_field); }, blank_field + ":2: column 3: blank field");
    auto empty_field = file("empty_field.csv", "1,,3\n");
    expect_error<ValueError>([&] { load_csv(empty_field); }, empty_field + ":1: column 3: blank field");
    // a NUL byte is an error naming its line and column (it used to cut the line and glue the next on)
    auto nul = file("nul.csv", std::string("1,2\0x\n3\n5,6\n", 13));
    expect_error<ValueError>([&] { load_csv(nul); }, nul + ":1: column 4: a NUL byte");
    // subnormal numbers parse; overflow does not
    auto tiny = file("tiny.csv", "1e-310,1\n");
    BOOST_TEST(load_csv(tiny).features(0, 0) == 1e-310);
    auto huge = file("huge.csv", "1e400,1\n");
    expect_error<ValueError>([&] { load_csv(huge); }, huge + ":1: column 1: '1e400' is not a finite float64");
    auto nan = file("nan.csv", "nan,1\n");
    expect_error<ValueError>([&] { load_csv(nan); }, "'nan' is not a finite float64");
    // Windows line ends and a last line without one
    auto crlf = file("crlf.csv", "1,2\r\n3,4");
    auto c = load_csv(crlf);
    BOOST_TEST(c.target(1) == 4.0);
    for (auto& p : files) std::remove(p.c_str());
}

BOOST_AUTO_TEST_CASE(standardize_split_batches) {
    Array<double> x = {{1.0, 10.0, 5.0}, {3.0, 20.0, 5.0}, {5.0, 30.0, 5.0}};
    Standardizer s;
    s.fit(x);
    auto z = s.transform(x);
    BOOST_TEST(std::abs(xt::mean(xt::col(z, 0))()) < 1e-15);
    BOOST_TEST(std::abs(xt::mean(xt::col(z, 1) * xt::col(z, 1))() - 1.0) < 1e-14);
    BOOST_TEST(xt::amax(xt::abs(xt::col(z, 2)))() == 0.0);  // constant column: scale 1
    expect_error<ShapeError>([&] { s.transform(Array<double>{{1.0, 2.0}}); }, "fit on 3 columns");

    BOOST_TEST(shuffled_indices(10, 3) == shuffled_indices(10, 3));
    BOOST_TEST(shuffled_indices(10, 3) != shuffled_indices(10, 4));
    Table t{Array<double>(xt::reshape_view(xt::arange<double>(20.0), {10, 2})),
            Array<double>(xt::arange<double>(10.0))};
    auto [train, test] = train_test_split(t, 0.3, 1);
    BOOST_TEST(train.rows() == 7u);
    BOOST_TEST(test.rows() == 3u);
    std::vector<double> all;
    for (auto v : train.target) all.push_back(v);
    for (auto v : test.target) all.push_back(v);
    std::sort(all.begin(), all.end());
    for (std::size_t i = 0; i < 10; ++i) BOOST_TEST(all[i] == double(i));
    BOOST_TEST(train.features(0, 1) == 2 * train.target(0) + 1);  // rows stay whole

    auto b = batches(10, 4, true, 5);
    BOOST_TEST(b.size() == 3u);
    BOOST_TEST(b[2].size() == 2u);
    auto oh = one_hot({2, 0}, 3);
    BOOST_TEST(oh == (Array<double>{{0, 0, 1}, {1, 0, 0}}));
    expect_error<ValueError>([] { to_labels(Array<double>{1.0, 2.5}); }, "to_labels: value 2.5 at row 1");
    expect_error<ValueError>([] { one_hot({3}, 3); }, "one_hot: label 3 at row 0 is out of range for 3 classes");
    expect_error<ValueError>([&] { train_test_split(t, 1.5, 1); }, "test_fraction");
}

BOOST_AUTO_TEST_CASE(metrics) {
    Array<double> scores = {{0.1, 0.9}, {0.8, 0.2}, {0.3, 0.7}, {0.6, 0.4}};
    std::vector<std::size_t> labels{1, 0, 0, 0};
    BOOST_TEST(accuracy(scores, labels) == 0.75);
    auto cm = confusion_matrix(predicted_classes(scores), labels, 2);
    // a label or a prediction equal to the number of classes is out of range
    expect_error<ValueError>([&] { confusion_matrix({0, 1}, {0, 2}, 2); },
                             "confusion_matrix: row 1 has label 2 / prediction 1 out of range for 2 classes");
    expect_error<ValueError>([&] { confusion_matrix({2, 1}, {0, 1}, 2); }, "row 0 has label 0 / prediction 2");
    BOOST_TEST(cm == (Array<std::size_t>{{2, 1}, {0, 1}}));
    Array<double> target = {1.0, 2.0, 3.0, 4.0};
    BOOST_TEST(r2_score(target, target) == 1.0);
    Array<double> mean_pred = xt::ones<double>({4}) * 2.5;
    BOOST_TEST(std::abs(r2_score(mean_pred, target)) < 1e-15);
    double m = mean_loss(10, 4, [](const std::vector<std::size_t>& b) { return double(b.front()); });
    BOOST_TEST(std::abs(m - (0.0 * 4 + 4.0 * 4 + 8.0 * 2) / 10.0) < 1e-15);
    expect_error<ShapeError>(
        [&] {
            accuracy(scores, {1, 0});
        },
        "accuracy: labels of shape [2] for scores of shape [4,2]");
}

BOOST_AUTO_TEST_CASE(data_loader_batches_epochs_and_transforms) {
    auto wine = nn::load_csv(XTGRAD_DATA_DIR "/wine_data.csv", {.header_lines = 1});
    BOOST_TEST(wine.rows() == 178u);
    BOOST_TEST(wine.features.shape()[1] == 13u);
    nn::DataLoader<float> loader(wine, {.batch_size = 50, .seed = 3});
    BOOST_TEST(loader.size() == 4u);  // 50, 50, 50, 28
    std::vector<std::size_t> seen, first_epoch;
    std::size_t batches = 0;
    for (const auto& batch : loader) {
        ++batches;
        BOOST_TEST(batch.x.shape()[1] == 13u);
        BOOST_TEST(batch.x.shape()[0] == batch.rows.size());
        BOOST_TEST(batch.y.value()(0) == float(wine.target(batch.rows[0])));
        BOOST_TEST(batch.x.value()(0, 12) == float(wine.features(batch.rows[0], 12)));
        seen.insert(seen.end(), batch.rows.begin(), batch.rows.end());
        BOOST_TEST(batch.labels().size() == batch.rows.size());
    }
    BOOST_TEST(batches == 4u);
    first_epoch = seen;
    std::sort(seen.begin(), seen.end());
    for (std::size_t i = 0; i < seen.size(); ++i) BOOST_TEST(seen[i] == i);  // every row once
    std::vector<std::size_t> second_epoch;
    for (const auto& batch : loader) second_epoch.insert(second_epoch.end(), batch.rows.begin(), batch.rows.end());
    BOOST_TEST((second_epoch != first_epoch));  // reshuffled
    BOOST_TEST(loader.epochs() == 2u);
    // drop_last, no shuffle, a transform to images
    nn::DataLoader<double> images(wine, {.batch_size = 64, .shuffle = false, .drop_last = true}, [](Array<double> x) {
        x.reshape({x.shape()[0], 1, 1, 13});
        return x;
    });
    BOOST_TEST(images.size() == 2u);
    auto it = images.begin();
    BOOST_TEST(it->x.shape() == (Shape{64, 1, 1, 13}));
    BOOST_TEST(it->rows[5] == 5u);
    expect_error<ValueError>([&] { nn::DataLoader<double>(wine, {.batch_size = 0}); }, "batch_size must be positive");
    // a batch larger than the table is the whole table, even at the top of size_t (found by
    // fuzz_layers: (n + b - 1) / b wrapped to no batch at all)
    for (std::size_t b : {std::size_t(500), std::size_t(-1), std::size_t(-1) / 2 + 1}) {
        nn::DataLoader<double> whole(wine, {.batch_size = b});
        BOOST_TEST(whole.size() == 1u);
        BOOST_TEST(whole.begin()->rows.size() == 178u);
    }
}

namespace {
std::vector<std::size_t> epoch_rows(nn::DataLoader<double>& loader) {
    std::vector<std::size_t> rows;
    for (const auto& batch : loader) rows.insert(rows.end(), batch.rows.begin(), batch.rows.end());
    return rows;
}
}  // namespace

// Each begin() owns its epoch's order: an evaluation pass over the training loader inside a
// training epoch (the case of issue 25: 40 rows of which 27 distinct) and two interleaved
// passes each still see every row once.
BOOST_AUTO_TEST_CASE(nested_and_interleaved_passes_keep_their_own_orders) {
    nn::Table table;
    table.features = xt::reshape_view(xt::arange<double>(80.0), {40, 2});
    table.target = xt::arange<double>(40.0);
    nn::DataLoader<double> loader(table, {.batch_size = 8, .seed = 5});
    std::vector<std::size_t> outer;
    for (const auto& batch : loader) {
        outer.insert(outer.end(), batch.rows.begin(), batch.rows.end());
        auto inner = epoch_rows(loader);  // an evaluation pass in the middle of the epoch
        std::sort(inner.begin(), inner.end());
        BOOST_TEST(inner.size() == 40u);
        BOOST_TEST((std::adjacent_find(inner.begin(), inner.end()) == inner.end()));
    }
    std::sort(outer.begin(), outer.end());
    BOOST_TEST(outer.size() == 40u);
    BOOST_TEST((std::adjacent_find(outer.begin(), outer.end()) == outer.end()), "the outer epoch repeated rows");
    BOOST_TEST(loader.epochs() == 6u);  // the outer epoch and five inner ones
    // two passes advanced in turn
    auto a = loader.begin(), b = loader.begin();
    std::vector<std::size_t> rows_a, rows_b;
    for (; a != loader.end(); ++a, ++b) {
        rows_a.insert(rows_a.end(), a->rows.begin(), a->rows.end());
        rows_b.insert(rows_b.end(), b->rows.begin(), b->rows.end());
    }
    BOOST_TEST((rows_a != rows_b));
    for (auto* rows : {&rows_a, &rows_b}) {
        std::sort(rows->begin(), rows->end());
        BOOST_TEST((std::adjacent_find(rows->begin(), rows->end()) == rows->end()));
    }
    // a batch's values are its rows' values, features and targets alike
    for (const auto& batch : loader)
        for (std::size_t i = 0; i < batch.rows.size(); ++i) {
            BOOST_TEST(batch.x.value()(i, 1) == double(2 * batch.rows[i] + 1));
            BOOST_TEST(batch.y.value()(i) == double(batch.rows[i]));
        }
}

// The permutations of (seed, epoch) pairs are all different: seed + epoch made seed 7's epoch 1
// seed 8's epoch 0; and the same pair gives the same order in a new loader.
BOOST_AUTO_TEST_CASE(every_seed_and_epoch_has_an_order_of_its_own) {
    nn::Table table;
    table.features = xt::reshape_view(xt::arange<double>(60.0), {30, 2});
    table.target = xt::zeros<double>({30});
    std::set<std::vector<std::size_t>> orders;
    std::vector<std::size_t> seed7_epoch1;
    for (std::uint64_t seed = 0; seed < 12; ++seed) {
        nn::DataLoader<double> loader(table, {.batch_size = 30, .seed = seed});
        for (int epoch = 0; epoch < 12; ++epoch) {
            auto rows = epoch_rows(loader);
            BOOST_TEST(orders.insert(rows).second, "seed " << seed << ", epoch " << epoch << " repeats an order");
            if (seed == 7 && epoch == 1) seed7_epoch1 = rows;
        }
    }
    nn::DataLoader<double> again(table, {.batch_size = 30, .seed = 7});
    epoch_rows(again);
    BOOST_TEST((epoch_rows(again) == seed7_epoch1));
    // randperm itself: a permutation, the same for the same seed and position
    Generator g1(3), g2(3);
    IndexArray p = randperm(1000, g1), q = randperm(1000, g2);
    std::vector<std::int64_t> sorted(1000);
    for (std::size_t i = 0; i < 1000; ++i) sorted[i] = p[i];
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < 1000; ++i) BOOST_TEST(sorted[i] == std::int64_t(i));
    bool same = true, identity = true;
    for (std::size_t i = 0; i < 1000; ++i) same &= p[i] == q[i], identity &= p[i] == std::int64_t(i);
    BOOST_TEST(same);
    BOOST_TEST(!identity);
    BOOST_TEST(g1.offset() == 1000u);
}

BOOST_AUTO_TEST_CASE(a_transform_must_keep_one_row_per_target) {
    nn::Table table;
    table.features = xt::reshape_view(xt::arange<double>(8.0), {4, 2});
    table.target = xt::zeros<double>({4});
    // the case of issue 25: x [1, 2] for y [4]
    nn::DataLoader<double> squashed(table, {.batch_size = 4}, [](Array<double> x) {
        return Array<double>(xt::sum(x, {0}, xt::keep_dims));
    });
    expect_error<ShapeError>([&] { squashed.begin(); },
                             "DataLoader: the transform made features of shape [1,2] from a batch of 4 rows [4, 2]");
    nn::DataLoader<double> scalar(table, {.batch_size = 4}, [](Array<double> x) { return Array<double>(xt::sum(x)); });
    expect_error<ShapeError>([&] { scalar.begin(); }, "the rows must stay first");
}

// The sharded loaders of three processes together yield each global batch of the unsharded
// loader, in order, every row once; a last batch smaller than the shards leaves some empty.
BOOST_AUTO_TEST_CASE(sharded_loaders_partition_every_global_batch) {
    auto wine = nn::load_csv(XTGRAD_DATA_DIR "/wine_data.csv", {.header_lines = 1});
    auto few = nn::take_rows(wine, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21});
    const std::size_t shards = 3;
    nn::DataLoader<double> whole(few, {.batch_size = 10, .seed = 5});
    std::vector<std::vector<std::vector<std::size_t>>> parts(shards);  // [shard][batch] rows
    for (std::size_t s = 0; s < shards; ++s) {
        nn::DataLoader<double> loader(few, {.batch_size = 10, .seed = 5, .shards = shards, .shard = s});
        BOOST_TEST(loader.size() == whole.size());
        for (const auto& batch : loader) {
            parts[s].push_back(batch.rows);
            if (batch.empty()) {
                BOOST_TEST(!batch.x.defined());
                expect_error<ValueError>([&] { (void)batch.labels(); }, "has no rows");
            } else {
                BOOST_TEST(batch.x.shape()[0] == batch.rows.size());
            }
        }
    }
    std::size_t b = 0, empty = 0;
    for (const auto& batch : whole) {
        std::vector<std::size_t> joined;
        for (std::size_t s = 0; s < shards; ++s) {
            joined.insert(joined.end(), parts[s][b].begin(), parts[s][b].end());
            empty += parts[s][b].empty();
        }
        BOOST_TEST(joined == batch.rows);  // contiguous parts, in shard order
        ++b;
    }
    BOOST_TEST(empty == 1u);  // 10, 10, 2: the last batch of two rows leaves one of three shards empty
    BOOST_TEST((nn::shard_range(10, 0, 3) == std::pair<std::size_t, std::size_t>{0, 4}));
    BOOST_TEST((nn::shard_range(10, 2, 3) == std::pair<std::size_t, std::size_t>{7, 10}));
    BOOST_TEST((nn::shard_range(2, 2, 3) == std::pair<std::size_t, std::size_t>{2, 2}));
    expect_error<ValueError>([&] { nn::shard_range(10, 3, 3); }, "shard 3 of 3 shards does not exist");
    expect_error<ValueError>([&] { nn::DataLoader<double>(few, {.shards = 2, .shard = 2}); },
                             "shard 2 of 2 shards does not exist");
}

BOOST_AUTO_TEST_CASE(labels_that_no_integer_holds_are_refused_before_any_cast) {
    // an infinity or 1e30 converted to an integer is undefined behaviour (it gave INT64_MIN)
    for (double bad : {std::numeric_limits<double>::infinity(), 1e30, -1.0, 2.5, std::nan("")}) {
        Array<double> x = xt::ones<double>({2, 1}), y{0.0, 0.0};
        y(1) = bad;
        nn::Table t{x, y};
        nn::DataLoader<double> loader(t, {.batch_size = 2, .shuffle = false});
        for (const auto& batch : loader)
            expect_error<ValueError>([&] { (void)batch.labels(); }, "is not a class label");
    }
}
