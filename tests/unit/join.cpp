// The join's building blocks in one process: the hash and partition, the
// local join against a naive oracle (every key shape, every `how`, with and
// without radix partitioning), tuple payloads, hash_join on a singleton
// communicator (shuffle with M = 1 and M = 3, whose batches join on a compute
// thread, and broadcast), and the input errors.
#include "../support/join_check.hpp"
#include "../support/string_join_check.hpp"

#include <ucoro/ucoro.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <tuple>

using namespace ucoro;
using namespace ucoro::test;
using join::join_how;

namespace {
const join_how hows[] = {join_how::inner, join_how::left, join_how::semi, join_how::anti};

std::vector<result_row> local_rows(const join_table_i64& l, const join_table_i64& r, join_how how,
                                   join::local_join_options o) {
  const auto idx = join::local_join(std::span<const std::int64_t>(l.keys), std::span<const std::int64_t>(r.keys), how, o);
  join::joined<join_table_i64, join_table_i64> j;
  j.left.resize(2);
  j.right.resize(1);
  join::append_rows(j, l, r, idx, how);
  return rows_of(j, how);
}
} // namespace

TEST_CASE("hash_key is a bijection that spreads sequential keys evenly over ranks", "[join][hash]") {
  std::set<std::uint64_t> hashes;
  std::vector<std::size_t> per_rank(3);
  for (std::int64_t k = -5000; k < 5000; ++k) {
    hashes.insert(join::hash_key(k));
    ++per_rank[join::rank_of(join::hash_key(k), 3)];
  }
  CHECK(hashes.size() == 10000);
  for (std::size_t c : per_rank)
    CHECK((c > 3000 && c < 3700)); // 3333 each, binomial spread ~47
  CHECK(join::hash_key(std::int32_t{-7}) == join::hash_key(std::int64_t{-7})); // any integral type, one hash
  // The join reads keys back from their hashes: exact for every key and seed.
  for (const std::int64_t k : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1}, std::int64_t{0},
                               std::int64_t{42}, std::numeric_limits<std::int64_t>::max()})
    for (const std::uint64_t seed : {join::default_seed, std::uint64_t{0}, ~std::uint64_t{0}})
      CHECK(join::key_of_hash<std::int64_t>(join::hash_key(k, seed), seed) == k);
  CHECK(join::key_of_hash<std::int16_t>(join::hash_key(std::int16_t{-300})) == -300);
  CHECK(join::key_of_hash<std::uint8_t>(join::hash_key(std::uint8_t{250})) == 250);
}

TEST_CASE("partition groups rows by rank, keeps their order, and moves every column with its key", "[join][partition]") {
  const join_table_i64 t = make_side(key_mode::duplicates, true, 0, 1, 5000);
  const auto p = join::partition(t, 4);
  REQUIRE(p.offsets.size() == 5);
  CHECK(p.offsets.back() == t.size());
  for (std::size_t part = 0; part < 4; ++part)
    for (std::size_t i = p.offsets[part]; i < p.offsets[part + 1]; ++i) {
      CHECK(join::rank_of(join::hash_key(p.rows.keys[i]), 4) == part);
      CHECK(p.rows.payloads[1][i] == static_cast<std::int64_t>(static_cast<std::uint64_t>(p.rows.keys[i]) * 3)); // moved together
      if (i > p.offsets[part])
        CHECK(p.rows.payloads[0][i] > p.rows.payloads[0][i - 1]); // stable
    }
}

TEST_CASE("radix_scatter puts every row once into its part, in order, whatever the part boundaries",
          "[join][partition]") {
  // Part sizes that are not multiples of the 4-row write-combining line,
  // empty parts, and more parts than rows: the partial lines at both ends of
  // a part must neither be lost nor overwrite the neighbouring part.
  for (const std::size_t rows : {std::size_t{0}, std::size_t{3}, std::size_t{37}, std::size_t{5001}})
    for (const std::uint32_t parts : {1U, 2U, 8U, 64U}) {
      INFO(rows << " rows into " << parts << " parts");
      std::vector<std::int64_t> keys(rows);
      for (std::size_t i = 0; i < rows; ++i)
        keys[i] = static_cast<std::int64_t>(i % 1000) - 500; // duplicates and negatives
      join::scratch_vector<join::hashed_row> out;
      std::vector<std::size_t> offsets;
      join::detail::radix_scatter(std::span<const std::int64_t>(keys), parts, join::default_seed,
                                  [parts](std::uint64_t h) { return join::radix_of(h, parts); }, out, offsets);
      REQUIRE(out.size() == rows);
      REQUIRE(offsets.size() == parts + 1);
      CHECK(offsets.back() == rows);
      std::vector<int> seen(rows, 0);
      for (std::uint32_t p = 0; p < parts; ++p)
        for (std::size_t i = offsets[p]; i < offsets[p + 1]; ++i) {
          REQUIRE(out[i].row < rows);
          ++seen[out[i].row];
          CHECK(out[i].hash == join::hash_key(keys[out[i].row]));
          CHECK(join::radix_of(out[i].hash, parts) == p);
          if (i > offsets[p])
            CHECK(out[i].row > out[i - 1].row); // stable
        }
      CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<std::ptrdiff_t>(rows));
    }
}

TEST_CASE("local_join gives the same pairs in the same order on 1, 2 and 3 threads", "[join][local]") {
  // The radix passes split the rows and the parts split among threads; the
  // outputs are appended in thread order, so nothing may differ. (Not zipf:
  // its hot key on both sides makes a quadratic output at this size.)
  for (key_mode mode : {key_mode::unique, key_mode::duplicates})
    for (join_how how : hows) {
      INFO(to_string(mode) << ", " << join::to_string(how));
      const auto l = make_side(mode, true, 0, 1, 150000), r = make_side(mode, false, 0, 1, 140000);
      join::hash_table_memory memory;
      join::join_indices one;
      join::local_join(std::span<const std::int64_t>(l.keys), std::span<const std::int64_t>(r.keys), how,
                       {1024, join::default_seed, &memory, nullptr, 1}, one);
      CHECK(!one.left.empty());
      for (unsigned threads : {2U, 3U}) {
        join::join_indices many;
        join::local_join(std::span<const std::int64_t>(l.keys), std::span<const std::int64_t>(r.keys), how,
                         {1024, join::default_seed, &memory, nullptr, threads}, many);
        CHECK(many.left == one.left);
        CHECK(many.right == one.right);
        CHECK(many.hashes == one.hashes);
      }
    }
}

TEST_CASE("local_join matches the naive join for every key shape and every how, radix-partitioned or not",
          "[join][local]") {
  join::hash_table_memory memory; // reused across all the joins below
  for (key_mode mode : key_modes)
    for (join_how how : hows)
      for (std::size_t rows_per_part : {std::size_t{64}, std::size_t{1} << 20}) { // small first: the table grows into stale slots
        INFO(to_string(mode) << ", " << join::to_string(how) << ", rows per part " << rows_per_part);
        const join_table_i64 l = make_side(mode, true, 0, 1, 1500), r = make_side(mode, false, 0, 1, 1500);
        const auto expected = oracle(mode, 1, 1500, how, [](std::int64_t, std::uint32_t) { return true; });
        const auto got = local_rows(l, r, how, {rows_per_part, join::default_seed, &memory});
        CHECK(got.size() == expected.size());
        CHECK(got == expected);
      }
}

TEST_CASE("tuple payload columns of different types travel with their keys", "[join][local]") {
  // [snippet:join_tables]
  using left_t = join::table<std::int32_t, std::tuple<std::vector<double>, std::vector<std::uint8_t>>>;
  using right_t = join::table<std::int32_t, std::tuple<std::vector<std::int16_t>>>;
  left_t l{{1, 2, 2, 3}, {{1.5, 2.5, 2.75, 3.5}, {10, 20, 21, 30}}};
  right_t r{{2, 3, 3, 4}, {{-2, -3, -33, -4}}};
  // [/snippet:join_tables]
  context ctx;
  worker w{ctx, progress_mode::polling};
  const auto j = w.run([&]() -> task<join::joined<left_t, right_t>> {
    // [snippet:join_call]
    communicator comm = co_await communicator::bootstrap(w);
    join::hash_join_options o;
    o.how = join_how::left;
    co_return co_await join::hash_join(comm, l, r, o);
    // [/snippet:join_call]
  }());
  std::vector<std::tuple<int, double, int, int, int>> rows;
  for (std::size_t i = 0; i < j.size(); ++i)
    rows.emplace_back(j.keys[i], std::get<0>(j.left)[i], std::get<1>(j.left)[i], std::get<0>(j.right)[i], j.matched[i]);
  std::sort(rows.begin(), rows.end());
  const std::vector<std::tuple<int, double, int, int, int>> expected{
      {1, 1.5, 10, 0, 0}, {2, 2.5, 20, -2, 1}, {2, 2.75, 21, -2, 1}, {3, 3.5, 30, -33, 1}, {3, 3.5, 30, -3, 1}};
  CHECK(rows == expected);
}

TEST_CASE("hash_join on one rank: shuffle with M = 1 and M = 3 (compute thread) and broadcast agree with the oracle",
          "[join][hash_join]") {
  context ctx;
  worker w{ctx, progress_mode::polling};
  w.run([&]() -> task<void> {
    communicator comm = co_await communicator::bootstrap(w);
    join::hash_table_memory memory; // shared by every join below: tables of other shapes left in it
    for (key_mode mode : {key_mode::duplicates, key_mode::zipf, key_mode::empty_right})
      for (join_how how : hows)
        for (auto [algorithm, m] : {std::pair{join::join_algorithm::shuffle, 1U}, std::pair{join::join_algorithm::shuffle, 3U},
                                    std::pair{join::join_algorithm::broadcast, 1U}})
        for (const bool reuse : {false, true}) {
          INFO(to_string(mode) << ", " << join::to_string(how) << ", " << join::to_string(algorithm) << ", M " << m
                               << (reuse ? ", memory reused" : ""));
          join::hash_join_options o;
          o.memory = reuse ? &memory : nullptr;
          o.how = how;
          o.algorithm = algorithm;
          o.over_decomposition = m;
          join::hash_join_report report;
          o.report = &report;
          const auto l = make_side(mode, true, 0, 1, 1000), r = make_side(mode, false, 0, 1, 1000);
          const auto j = co_await join::hash_join(comm, l, r, o);
          CHECK(rows_of(j, how) == oracle(mode, 1, 1000, how, [](std::int64_t, std::uint32_t) { return true; }));
          CHECK(report.algorithm == algorithm);
          CHECK(report.rows_out == j.size());
          CHECK(report.left_rows == l.size());
          CHECK(report.bytes.sent == 0); // one rank moves nothing between processes
        }
  }());
}

TEST_CASE("hash_join refuses columns shorter than their keys and M = 0, naming them", "[join][errors]") {
  context ctx;
  worker w{ctx, progress_mode::polling};
  join_table_i64 l = make_side(key_mode::unique, true, 0, 1, 10), r = make_side(key_mode::unique, false, 0, 1, 10);
  l.payloads[1].pop_back();
  auto run = [&](join::hash_join_options o) {
    return w.run([&]() -> task<void> {
      communicator comm = co_await communicator::bootstrap(w);
      (void)co_await join::hash_join(comm, l, r, o);
    }());
  };
  CHECK_THROWS_WITH(run({}), Catch::Contains("payload column 1 has 9 rows for 10 keys"));
  l.payloads[1].push_back(0);
  join::hash_join_options zero;
  zero.over_decomposition = 0;
  CHECK_THROWS_WITH(run(zero), Catch::Contains("over_decomposition"));
}

TEST_CASE("a string key hashes its bytes: the same bytes one hash, any other byte or length another, spread evenly",
          "[join][hash][strings]") {
  CHECK(join::hash_key(std::string_view("abc")) == join::hash_key(std::string("abc")));
  CHECK(join::hash_key(std::string_view("abc"), 1) != join::hash_key(std::string_view("abc"), 2)); // seeded
  std::set<std::uint64_t> hashes;
  std::vector<std::size_t> per_rank(3);
  // Lengths 0 to 24 (the word boundaries and a padded tail), zero bytes
  // inside, and every single-byte string: no two of them may share a hash.
  std::vector<std::string> keys{"", std::string(1, '\0'), std::string(2, '\0'), std::string(8, '\0'),
                                std::string(9, '\0')};
  for (int c = 1; c < 256; ++c)
    keys.emplace_back(1, static_cast<char>(c));
  for (int i = 0; i < 9000; ++i)
    keys.push_back("k" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 17), 'x'));
  for (const std::string& k : keys) {
    hashes.insert(join::hash_key(std::string_view(k)));
    ++per_rank[join::rank_of(join::hash_key(std::string_view(k)), 3)];
  }
  CHECK(hashes.size() == keys.size());
  for (std::size_t c : per_rank)
    CHECK((c > 3000 && c < 3500)); // 3087 each, binomial spread ~45
}

TEST_CASE("string_column holds Arrow's offsets and bytes, and refuses a broken layout naming the offset",
          "[join][strings]") {
  join::string_column c{"ab", "", "cde"};
  CHECK(c.size() == 3);
  CHECK(c.offsets() == std::vector<std::uint64_t>{0, 2, 2, 5});
  CHECK(std::string(c.bytes().begin(), c.bytes().end()) == "abcde");
  CHECK(c[1].empty());
  CHECK(c.at(2) == "cde");
  CHECK_THROWS_WITH(c.at(3), Catch::Contains("row 3 of 3"));
  const join::string_column adopted({0, 1, 3}, {'x', 'y', 'z'});
  CHECK(adopted[1] == "yz");
  CHECK_THROWS_WITH(join::string_column({1, 3}, {'x', 'y', 'z'}), Catch::Contains("start with 0"));
  CHECK_THROWS_WITH(join::string_column({0, 2, 1, 3}, {'x', 'y', 'z'}), Catch::Contains("offset 2 (1) is below offset 1"));
  CHECK_THROWS_WITH(join::string_column({0, 2}, {'x', 'y', 'z'}), Catch::Contains("last offset is 2 for 3 bytes"));
  CHECK_THROWS_AS(join::string_column({}, {}), ucx_error);
}

TEST_CASE("partition moves string keys and string payloads with their rows, and keeps their order",
          "[join][partition][strings]") {
  const string_table t = make_string_side(true, 0, 1, 3000);
  const auto p = join::partition(t, 4);
  REQUIRE(p.offsets.back() == t.size());
  REQUIRE(p.rows.payloads[0].is_text());
  REQUIRE(!p.rows.payloads[1].is_text());
  std::size_t seen = 0;
  for (std::size_t part = 0; part < 4; ++part)
    for (std::size_t i = p.offsets[part]; i < p.offsets[part + 1]; ++i, ++seen) {
      CHECK(join::rank_of(join::hash_key(p.rows.keys[i]), 4) == part);
      const auto row = static_cast<std::size_t>(p.rows.payloads[1].ints()[i]); // the id is the input row
      CHECK(p.rows.keys[i] == t.keys[row]);
      CHECK(p.rows.payloads[0].strings()[i] == t.payloads[0].strings()[row]);
      if (i > p.offsets[part])
        CHECK(p.rows.payloads[1].ints()[i] > p.rows.payloads[1].ints()[i - 1]); // stable
    }
  CHECK(seen == t.size());
}

TEST_CASE("local_join on string keys matches the naive join for every how, radix-partitioned or not, on 1 and 3 "
          "threads", "[join][local][strings]") {
  join::hash_table_memory memory;
  const string_table l = make_string_side(true, 0, 1, 4000), r = make_string_side(false, 0, 1, 4000);
  for (join_how how : hows)
    for (std::size_t rows_per_part : {std::size_t{64}, std::size_t{1} << 20})
      for (unsigned threads : {1U, 3U}) {
        INFO(join::to_string(how) << ", rows per part " << rows_per_part << ", " << threads << " threads");
        const auto idx = join::local_join(l.keys, r.keys, how, {rows_per_part, join::default_seed, &memory, nullptr, threads});
        join::joined<string_table, string_table> j;
        j.left = join::empty_columns_like(l.payloads);
        j.right = join::empty_columns_like(r.payloads);
        join::append_rows(j, l, r, idx, how);
        if (how == join_how::left)
          for (std::size_t i = 0; i < j.size(); ++i) // append_rows leaves matched to hash_join's callers
            CHECK(j.matched[i] == (idx.right[i] == join::no_row ? 0 : 1));
        const auto expected = string_oracle(1, 4000, how, false, false, [](const std::string&, std::uint32_t) { return true; });
        CHECK(text_rows(j, how) == expected);
      }
}

TEST_CASE("string keys that share a hash are still told apart by their bytes", "[join][local][strings]") {
  // Real collisions of the 64-bit hash cannot be found for a test, so the
  // rows are hashed by hand: every row gets one hash, as if all collided.
  const join::string_column left{"a", "b", "zz", "a", ""}, right{"b", "a", "b", "", "q"};
  std::vector<join::hashed_row> l, r;
  for (std::uint32_t i = 0; i < left.size(); ++i)
    l.push_back({42, i, 0});
  for (std::uint32_t i = 0; i < right.size(); ++i)
    r.push_back({42, i, 0});
  join::hash_table_memory memory;
  std::set<std::pair<std::string, std::string>> pairs;
  join::join_indices out;
  join::detail::join_part(join::hashed_rows(l), join::hashed_rows(r), join_how::inner, memory.table(0),
                          join::detail::strings_compared{&left, &right}, out, nullptr);
  std::multiset<std::pair<std::string, std::uint32_t>> got;
  for (std::size_t i = 0; i < out.left.size(); ++i) {
    CHECK(left[out.left[i]] == right[out.right[i]]);
    got.emplace(std::string(left[out.left[i]]), out.right[i]);
  }
  // a (rows 0, 3) meets right row 1; b meets rows 0 and 2; "" meets row 3; zz and q meet nothing.
  const std::multiset<std::pair<std::string, std::uint32_t>> expected{{"a", 1}, {"a", 1}, {"b", 0}, {"b", 2}, {"", 3}};
  CHECK(got == expected);
  join::join_indices anti;
  join::detail::join_part(join::hashed_rows(l), join::hashed_rows(r), join_how::anti, memory.table(0),
                          join::detail::strings_compared{&left, &right}, anti, nullptr);
  CHECK(std::vector<join::row_index>(anti.left.begin(), anti.left.end()) == std::vector<join::row_index>{2});
}

TEST_CASE("hash_join on one rank with string keys: shuffle (M = 1, 3) and broadcast, either side empty, agree with "
          "the naive join", "[join][hash_join][strings]") {
  context ctx;
  worker w{ctx, progress_mode::polling};
  w.run([&]() -> task<void> {
    communicator comm = co_await communicator::bootstrap(w);
    for (auto [algorithm, m] : {std::pair{join::join_algorithm::shuffle, 1U}, std::pair{join::join_algorithm::shuffle, 3U},
                                std::pair{join::join_algorithm::broadcast, 1U}})
      co_await check_string_join(comm, algorithm, m);
  }());
}

TEST_CASE("the seed's example: customer names joined to their orders' items on customer id, strings throughout",
          "[join][strings]") {
  // [snippet:join_strings]
  using customers_t = join::table<std::int64_t, std::tuple<join::string_column>>; // id -> name
  using orders_t = join::table<std::int64_t, std::tuple<join::string_column>>;    // customer id -> item
  customers_t customers{{1, 2, 3}, {{"Alice", "Bob", "Carol, Jr."}}};
  orders_t orders{{1, 3, 1, 4}, {{"book", "lamp", "pen", "cup"}}};
  // [/snippet:join_strings]
  using by_name_t = join::table<std::string, std::tuple<std::vector<std::int64_t>>>; // name -> id
  context ctx;
  worker w{ctx, progress_mode::polling};
  w.run([&]() -> task<void> {
    communicator comm = co_await communicator::bootstrap(w);
    // [snippet:join_strings_call]
    const auto j = co_await join::hash_join(comm, customers, orders); // inner
    for (std::size_t i = 0; i < j.size(); ++i)
      std::printf("%lld %.*s bought %.*s\n", static_cast<long long>(j.keys[i]),
                  static_cast<int>(std::get<0>(j.left)[i].size()), std::get<0>(j.left)[i].data(),
                  static_cast<int>(std::get<0>(j.right)[i].size()), std::get<0>(j.right)[i].data());
    // [/snippet:join_strings_call]
    std::multiset<std::tuple<std::int64_t, std::string, std::string>> rows;
    for (std::size_t i = 0; i < j.size(); ++i)
      rows.emplace(j.keys[i], std::get<0>(j.left)[i], std::get<0>(j.right)[i]);
    const std::multiset<std::tuple<std::int64_t, std::string, std::string>> expected{
        {1, "Alice", "book"}, {1, "Alice", "pen"}, {3, "Carol, Jr.", "lamp"}};
    CHECK(rows == expected);
    // A string key: the names themselves.
    // [snippet:join_string_keys]
    by_name_t ids{{"Alice", "Bob", ""}, {{1, 2, 0}}};
    by_name_t wanted{{"Bob", "", "Dave"}, {{20, 30, 40}}};
    join::hash_join_options o;
    o.how = join_how::left;
    const auto named = co_await join::broadcast_join(comm, wanted, ids, o); // ids gathered on every rank
    // [/snippet:join_string_keys]
    REQUIRE(named.size() == 3);
    std::map<std::string, std::tuple<std::int64_t, std::int64_t, int>> by_key;
    for (std::size_t i = 0; i < named.size(); ++i)
      by_key[std::string(named.keys[i])] = {std::get<0>(named.left)[i], std::get<0>(named.right)[i], named.matched[i]};
    CHECK(by_key["Bob"] == std::tuple<std::int64_t, std::int64_t, int>{20, 2, 1});
    CHECK(by_key[""] == std::tuple<std::int64_t, std::int64_t, int>{30, 0, 1}); // the empty string is a key
    CHECK(by_key["Dave"] == std::tuple<std::int64_t, std::int64_t, int>{40, 0, 0});
  }());
}

TEST_CASE("broadcast_join refuses to broadcast the left side of a left semi or anti join and says why", "[join][errors]") {
  context ctx;
  worker w{ctx, progress_mode::polling};
  const join_table_i64 l = make_side(key_mode::unique, true, 0, 1, 10), r = make_side(key_mode::unique, false, 0, 1, 10);
  for (join_how how : {join_how::left, join_how::semi, join_how::anti}) {
    join::hash_join_options o;
    o.how = how;
    o.broadcast = join::broadcast_side::left;
    CHECK_THROWS_WITH(w.run([&]() -> task<void> {
      communicator comm = co_await communicator::bootstrap(w);
      (void)co_await join::broadcast_join(comm, l, r, o);
    }()), Catch::Contains(std::string("a ") + join::to_string(how) + " join cannot broadcast its left side"));
  }
}
