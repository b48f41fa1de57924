// core/experiment: the run-folder rule, stage markers, settings declared once.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <limits>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/json_parse.hpp"
#include "common/script_error.hpp"
#include "common/paths.hpp"
#include "data/faces.hpp"
#include "data/image_datasets.hpp"
#include "data/toy2d.hpp"
#include "diffusion/analytic.hpp"
#include "diffusion/network.hpp"
#include "experiment/json_io.hpp"
#include "experiment/progress.hpp"
#include "experiment/run_folder.hpp"
#include "experiment/settings.hpp"
#include "helpers.hpp"
#include "loops/tune.hpp"
#include "metrics/sweep_run.hpp"

using namespace sims;
using namespace sims::experiment;
namespace fs = std::filesystem;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct Inner {
  int64_t width = 64;
  double lr = 1e-3;
};

enum class Kind { A, B };

struct Outer {
  int64_t n = 10;
  double omega = 1.5;
  double lo = 0, hi = std::numeric_limits<double>::infinity();
  std::vector<double> omegas{0, 0.5};
  Kind kind = Kind::A;
  std::string path;
  bool flag = false;
  uint64_t seed = 7;
  int64_t generations = 5;
  Inner inner;
};

const Schema<Inner>& inner_schema() {
  static const Schema<Inner> s = Schema<Inner>("inner")
                                     .integer("width", &Inner::width, "--width", "hidden units", 1, 4096)
                                     .real("lr", &Inner::lr, "--lr", "learning rate", 0, 1, true);
  return s;
}

const Schema<Outer>& outer_schema() {
  static const Schema<Outer> s =
      Schema<Outer>("outer")
          .integer("n", &Outer::n, "--n", "count", 1, 100)
          .real("omega", &Outer::omega, "--omega", "guidance", -10, 10)
          .only_for({"b"})
          .interval("interval", &Outer::lo, &Outer::hi, "--interval", "guidance interval")
          .reals("omegas", &Outer::omegas, "--omegas", "sweep", -10, 10)
          .choice("kind", &Outer::kind, "--kind", "kind", std::vector<std::pair<Kind, std::string>>{{Kind::A, "a"}, {Kind::B, "b"}})
          .text("path", &Outer::path, "--path", "a file")
          .boolean("flag", &Outer::flag, "--flag", "a switch")
          .seed("seed", &Outer::seed, "--seed", "seed")
          .integer("generations", &Outer::generations, "--generations", "generations", 1, 1000)
          .free()
          .nested("inner", &Outer::inner, inner_schema())
          .rule([](const Outer& o) { return o.n > 50 && o.kind == Kind::B ? std::string("--n above 50 needs --kind a") : ""; });
  return s;
}

}  // namespace

TEST_CASE("settings: one declaration gives JSON round trips with one rule for infinity", "[experiment]") {
  const auto& s = outer_schema();
  Outer o;
  o.omegas = {0, 1, -std::numeric_limits<double>::infinity()};
  o.kind = Kind::B;
  o.inner.width = 32;
  const nlohmann::json j = s.to_json(o);
  CHECK(j["interval"] == nlohmann::json::array({0.0, "inf"}));
  CHECK(j["omegas"][2] == "-inf");
  CHECK(j["kind"] == "b");
  CHECK(j["inner"]["width"] == 32);
  CHECK_FALSE(j.contains("inner.width"));  // nested flags are not JSON keys of their own
  const Outer back = s.from_json(j);
  CHECK(s.equal(back, o));
  CHECK(std::isinf(back.hi));
  // Missing keys keep defaults; older spellings read (null for an open interval).
  const Outer partial = s.from_json({{"n", 3}, {"interval", {0.5, nullptr}}});
  CHECK(partial.n == 3);
  CHECK(partial.lo == 0.5);
  CHECK(std::isinf(partial.hi));
  CHECK(partial.omega == 1.5);
  // Unknown keys and wrong types are refused with the key's name.
  CHECK_THAT(message_of([&] { s.from_json({{"nn", 3}}); }), Catch::Contains("unknown outer setting 'nn'"));
  CHECK_THAT(message_of([&] { s.from_json({{"n", "three"}}); }), Catch::Contains("'n' must be an integer"));
  CHECK_THAT(message_of([&] { s.from_json({{"kind", "c"}}); }), Catch::Contains("a|b"));
  // A list value given twice is refused in a file as on the command line (each value is a run).
  CHECK(message_of([&] { s.from_json({{"omegas", {0, 1, 1.0}}}); }) == "setting 'omegas' lists 1 twice (got [0,1,1.0])");
  CHECK(s.from_json({{"omegas", {0, 1, -1}}}).omegas == std::vector<double>{0, 1, -1});
  // A value or key the message quotes is one line of valid UTF-8 (a tab, DEL or a stray byte in a file's text
  // went into the message as it was: found by tests/fuzz/fuzz_records.cpp).
  CHECK(message_of([&] { s.from_json({{"kind", "b\t\x7f"}}); }) == "--kind must be one of a|b (got 'b  ')");
  CHECK(message_of([&] { s.from_json({{"n\nx", 1}}); }) == "unknown outer setting 'n x'");
  Outer flagged;
  CHECK(message_of([&] { s.find_flag("--kind")->parse(flagged, std::string(100, 'c')); }) ==
        "--kind must be one of a|b (got '" + std::string(60, 'c') + "...')");
}

TEST_CASE("settings: validation names the flag, the range and the value", "[experiment]") {
  const auto& s = outer_schema();
  Outer o;
  CHECK_NOTHROW(s.validate(o));
  o.n = 0;
  CHECK(message_of([&] { s.validate(o); }) == "--n must be between 1 and 100 (got 0)");
  o = Outer();
  o.inner.lr = 0;
  CHECK(message_of([&] { s.validate(o); }) == "--lr must be in (0, 1] (got 0)");
  o = Outer();
  o.lo = 2, o.hi = 1;
  CHECK_THAT(message_of([&] { s.validate(o); }), Catch::Contains("--interval LO:HI needs 0 <= LO < HI"));
  o = Outer();
  o.omegas = {};
  CHECK(message_of([&] { s.validate(o); }) == "--omegas needs at least one value");
  o = Outer();
  o.n = 60, o.kind = Kind::B;
  CHECK(message_of([&] { s.validate(o); }) == "--n above 50 needs --kind a");
}

TEST_CASE("settings: flags parse text with the same rules, nested flags included", "[experiment]") {
  const auto& s = outer_schema();
  Outer o;
  s.find_flag("--interval")->parse(o, "0.3:inf");
  CHECK(o.lo == Approx(0.3));
  CHECK(std::isinf(o.hi));
  s.find_flag("--omegas")->parse(o, "0, 0.5,2");
  CHECK(o.omegas == std::vector<double>{0, 0.5, 2});
  s.find_flag("--width")->parse(o, "128");
  CHECK(o.inner.width == 128);
  s.find_flag("--kind")->parse(o, "b");
  CHECK(o.kind == Kind::B);
  CHECK(s.find_flag("--omega")->only_for == std::vector<std::string>{"b"});
  CHECK_THAT(message_of([&] { s.find_flag("--n")->parse(o, "1.5"); }), Catch::Contains("--n takes a whole number (got '1.5')"));
  CHECK_THAT(message_of([&] { s.find_flag("--omegas")->parse(o, "0,,1"); }), Catch::Contains("--omegas takes numbers"));
  CHECK_THAT(message_of([&] { s.find_flag("--seed")->parse(o, "-1"); }), Catch::Contains("non-negative"));
  CHECK(s.find_flag("--interval")->text(o) == "0.3:inf");
  CHECK(s.find_flag("--width")->text(o) == "128");
  CHECK(s.free_keys() == std::vector<std::string>{"generations"});
}

TEST_CASE("format_real and parse_real round trip", "[experiment]") {
  for (double v : {0.0, 0.1, 1e-5, 1.0 / 3.0, -2.5, 80.0, 1e300}) CHECK(parse_real(format_real(v), "x") == v);
  CHECK(format_real(0.1) == "0.1");
  CHECK(format_real(std::numeric_limits<double>::infinity()) == "inf");
  CHECK_THROWS_AS(parse_real("1e999", "x"), InputError);
  CHECK_THROWS_AS(parse_real("nan", "x"), InputError);
  CHECK_THROWS_AS(parse_real("1.5x", "x"), InputError);
  CHECK_THROWS_AS(parse_real("0x10", "x"), InputError);  // hexadecimal: strtod reads 16
  for (const char* t : {"inf", "INF", "Infinity", "+Inf"}) CHECK(parse_real(t, "x") == INFINITY);
  CHECK(parse_real("-INF", "x") == -INFINITY);
  CHECK(parse_real(".5", "x") == 0.5);
  CHECK(parse_real("1E3", "x") == 1000.0);
  CHECK_THROWS_AS(parse_real(" 1", "x"), InputError);
  CHECK(parse_real("-2.5e+1", "x") == -25.0);
}

TEST_CASE("run folder: the one resume rule", "[experiment]") {
  test::TempDir tmp;
  const std::string dir = tmp.path + "/run";
  const nlohmann::json settings = {{"n", 10}, {"train", {{"lr", 0.001}}}, {"generations", 5}, {"workers", 2}};
  {
    RunFolder rf(dir, "loop", settings, {"generations", "workers"});
    CHECK_FALSE(rf.resumed());
    CHECK(fs::exists(dir + "/run.json"));
    CHECK(RunFolder::command_of(dir) == "loop");
    // One process at a time.
    CHECK_THAT(message_of([&] { RunFolder again(dir, "loop", settings); }), Catch::Contains("in use by another sims process"));
    rf.finish("gen-0001", {{"gen", 1}}, {{"w2", 0.5}});
  }
  SECTION("the same command continues; free settings may change and are recorded") {
    nlohmann::json more = settings;
    more["generations"] = 9;
    more["workers"] = 1;
    RunFolder rf(dir, "loop", more, {"generations", "workers"});
    CHECK(rf.resumed());
    CHECK(rf.previous_settings()["generations"] == 5);
    CHECK(rf.done("gen-0001", {{"gen", 1}}));
    CHECK(rf.result("gen-0001")["w2"] == 0.5);
    CHECK_FALSE(rf.done("gen-0002", {{"gen", 2}}));
    CHECK(rf.finished() == std::vector<std::string>{"gen-0001"});
    CHECK(read_json_file(dir + "/run.json")["settings"]["generations"] == 9);
  }
  SECTION("a changed setting is refused, naming it, both values and how to start over") {
    nlohmann::json other = settings;
    other["train"]["lr"] = 0.002;
    const std::string msg = message_of([&] { RunFolder rf(dir, "loop", other, {"generations"}); });
    CHECK_THAT(msg, Catch::Contains("train.lr = 0.001 (now 0.002)"));
    CHECK_THAT(msg, Catch::Contains("another --out"));
    // Nothing was changed by the refusal.
    CHECK(read_json_file(dir + "/run.json")["settings"] == settings);
  }
  SECTION("a stage made from other inputs is refused") {
    RunFolder rf(dir, "loop", settings);
    CHECK_THAT(message_of([&] { rf.done("gen-0001", {{"gen", 1}, {"base_crc", 5}}); }),
               Catch::Contains("stage 'gen-0001'"));
    rf.forget("gen-0001");
    CHECK_FALSE(rf.done("gen-0001", {{"gen", 1}, {"base_crc", 5}}));
  }
  SECTION("another command's folder is refused") {
    CHECK_THAT(message_of([&] { RunFolder rf(dir, "shift", settings); }), Catch::Contains("holds a run of 'sims loop'"));
  }
  SECTION("a setting added by a newer sims continues an older folder at its default, and only there") {
    nlohmann::json newer = settings;
    newer["memory"] = 1;
    nlohmann::json defaults = settings;
    defaults["memory"] = 1;
    {
      RunFolder rf(dir, "loop", newer, {"generations"}, defaults);
      CHECK(rf.resumed());
      CHECK(rf.done("gen-0001", {{"gen", 1}}));
    }
    CHECK(read_json_file(dir + "/run.json")["settings"]["memory"] == 1);
    newer["memory"] = 3;
    CHECK_THAT(message_of([&] { RunFolder rf(dir, "loop", newer, {"generations"}, defaults); }),
               Catch::Contains("memory = 1 (now 3)"));
    // Without defaults (the rule for settings that existed all along) a missing key is a change.
    nlohmann::json other = settings;
    other["memory"] = 1;
    other["extra"] = 2;
    CHECK_THAT(message_of([&] { RunFolder rf(dir, "loop", other, {"generations"}); }), Catch::Contains("extra"));
  }
}

TEST_CASE("run folder: existing outputs are never taken over silently", "[experiment]") {
  test::TempDir tmp;
  const std::string other = tmp.path + "/other";
  fs::create_directories(other);
  std::ofstream(other + "/notes.txt") << "mine";
  CHECK_THAT(message_of([&] { RunFolder rf(other, "sweep", {{"n", 1}}); }), Catch::Contains("not empty and holds no sims run"));
  CHECK(std::ifstream(other + "/notes.txt").good());
  const std::string legacy = tmp.path + "/legacy";
  fs::create_directories(legacy);
  std::ofstream(legacy + "/config.json") << "{}";
  CHECK_THAT(message_of([&] { RunFolder rf(legacy, "loop", {{"n", 1}}); }), Catch::Contains("older sims"));
  const std::string file = tmp.path + "/file";
  std::ofstream(file) << "x";
  CHECK_THAT(message_of([&] { RunFolder rf(file, "loop", {{"n", 1}}); }), Catch::Contains("is a file"));
  // An empty folder (or one with only hidden leftovers) is a new run.
  const std::string empty = tmp.path + "/empty";
  fs::create_directories(empty);
  std::ofstream(empty + "/.x.tmp123_4") << "orphan";
  CHECK_NOTHROW(RunFolder(empty, "loop", {{"n", 1}}));
}

TEST_CASE("run folder: a folder of an older version is adopted only when recognised and only under the lock", "[experiment]") {
  test::TempDir tmp;
  const std::string dir = tmp.path + "/old";
  fs::create_directories(dir);
  std::ofstream(dir + "/summary.md") << "an older demo";
  int asked = 0;
  const auto never = [&](const std::string&) { ++asked; return false; };
  const auto older = [&](const std::string& d) { ++asked; return fs::exists(d + "/summary.md"); };
  // Not recognised: refused as any folder with files, nothing written.
  CHECK_THAT(message_of([&] { RunFolder rf(dir, "demo", {{"data", "x"}}, {}, nlohmann::json(), never); }),
             Catch::Contains("not empty and holds no sims run"));
  CHECK(asked == 1);
  CHECK_FALSE(fs::exists(dir + "/run.json"));
  {
    // A second process holds an older demo's folder (no run.json): refused before the folder is looked at.
    const std::string busy = tmp.path + "/busy";
    fs::create_directories(busy);
    std::ofstream(busy + "/summary.md") << "an older demo";
    const int other_process = ::open((busy + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(other_process >= 0);
    REQUIRE(::flock(other_process, LOCK_EX | LOCK_NB) == 0);
    CHECK_THAT(message_of([&] { RunFolder rf(busy, "demo", {{"data", "x"}}, {}, nlohmann::json(), older); }),
               Catch::Contains("in use by another sims process"));
    CHECK(asked == 1);
    ::close(other_process);
    CHECK_FALSE(fs::exists(busy + "/run.json"));
  }
  {
    RunFolder rf(dir, "demo", {{"data", "x"}}, {}, nlohmann::json(), older);
    CHECK(asked == 2);
    CHECK(rf.resumed());
    CHECK(rf.previous_settings().is_null());
    CHECK(RunFolder::command_of(dir) == "demo");
    CHECK(std::ifstream(dir + "/summary.md").good());
  }
  // Marked now: the next call continues it by the usual rule without asking again.
  {
    RunFolder again(dir, "demo", {{"data", "x"}}, {}, nlohmann::json(), older);
    CHECK(again.resumed());
    CHECK(asked == 2);
  }
  // A damaged run.json is not taken for an absent one: refused, not adopted, and the lock is free afterwards.
  std::ofstream(dir + "/run.json") << "{ damaged";
  CHECK_THROWS(RunFolder(dir, "demo", {{"data", "x"}}, {}, nlohmann::json(), older));
  CHECK(asked == 2);
  const int probe = ::open((dir + "/.lock").c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(probe >= 0);
  CHECK(::flock(probe, LOCK_EX | LOCK_NB) == 0);
  ::close(probe);
}

TEST_CASE("settings diff lists nested leaves by dotted key", "[experiment]") {
  const auto d = diff_settings({{"a", 1}, {"b", {{"c", 2}, {"d", 3}}}}, {{"a", 1}, {"b", {{"c", 4}, {"d", 3}}}, {"e", true}});
  REQUIRE(d.size() == 2);
  CHECK(d[0].key == "b.c");
  CHECK(d[0].describe() == "b.c = 2 (now 4)");
  CHECK(d[1].key == "e");
  CHECK(d[1].describe() == "e = unset (now true)");
}

TEST_CASE("progress reporter fills elapsed and ETA", "[experiment]") {
  std::vector<Progress> got;
  Reporter r([&](const Progress& p) { got.push_back(p); }, 0.5);
  r("stage", 1, 2, "half, all from before");
  r("stage", 3, 4, "three quarters", {{"omega", 1}});
  REQUIRE(got.size() == 2);
  CHECK(got[0].eta < 0);  // nothing gained in this call yet
  CHECK(got[1].eta >= 0);
  CHECK(got[1].row["omega"] == 1);
  CHECK(got[1].fraction() == Approx(0.75));
}

TEST_CASE("file fingerprints follow content, not names", "[experiment]") {
  test::TempDir tmp;
  const std::string f = tmp.path + "/m.bin";
  std::ofstream(f) << "model one";
  const auto a = file_fingerprint(f);
  std::ofstream(f) << "model two";
  const auto b = file_fingerprint(f);
  CHECK(a != b);
  CHECK(a["bytes"] == 9);
  CHECK_THROWS_AS(file_fingerprint(tmp.path + "/missing"), InputError);
}

TEST_CASE("message text is valid UTF-8 on one line and cut before a whole character", "[experiment][files]") {
  CHECK(message_text("plain") == "plain");
  CHECK(message_text("a\xff" "b\nc") == "a?b c");
  CHECK(message_text("\xc3\xa9t\xc3\xa9") == "\xc3\xa9t\xc3\xa9");                // é kept
  CHECK(message_text("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");                  // a 4-byte character kept
  CHECK(message_text("\xc0\x80" "x\xed\xa0\x80" "y\xc3") == "??x???y?");        // overlong, surrogate, cut short
  CHECK(message_text("\xc3\xa9\xc3\xa9\xc3\xa9", 3) == "\xc3\xa9...");            // not half of the second é
  CHECK(message_text("abcd", 4) == "abcd");
  CHECK(message_text("abcde", 4) == "abcd...");
  CHECK(message_text(std::string("a\tb\0c", 5)) == "a b c");  // one line, no NUL to cut what() short
  // TorchScript's errors: the exception raised, not a frame of a C++ backtrace that follows it (it names
  // c10::Error::Error too), nor a line of the traceback before it.
  CHECK(script_error_line("The following operation failed in the TorchScript interpreter.\n  File \"code.py\", line 1\n"
                          "    x = f(y)  # a note: Error: not this\nRuntimeError: boom \xff\n"
                          "Exception raised from f at a.cpp:1 (most recent call first):\n"
                          "frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x5") == "RuntimeError: boom ?");
  CHECK(script_error_line("\n  just one line\n") == "just one line");
  CHECK(script_error_line("") == "unknown error");
  // The range where it is the reason: a whole number outside it, however written; none for a fraction or text.
  CHECK_THROWS_WITH(read_as<int>(json::parse("1e300"), "w"), "w is not a whole number from -2147483648 to 2147483647");
  CHECK_THROWS_WITH(read_as<uint8_t>(json::parse("300.0"), "w"), "w is not a whole number from 0 to 255");
  CHECK_THROWS_WITH(read_as<int>(json::parse("2.5"), "w"), "w is not a whole number");
  // json_brief and the parse error quote damaged bytes: what they give can be stored in a JSON record.
  const std::string name = std::string(58, 'a') + "\xc3\xa9\xff";  // the 60-byte cut falls inside the é
  const std::string brief = json_brief(json(std::string(name)));
  CHECK(brief.size() <= 63);
  CHECK_NOTHROW(json(brief).dump());
  try {
    parse_json_bounded(std::string("{\"k\": \"") + std::string(300, '\xc3') + "\"", "f");
    FAIL("accepted");
  } catch (const InputError& e) {
    CHECK_NOTHROW(json(std::string(e.what())).dump());
  }
}

TEST_CASE("a stored count is a whole number in range, anything else is refused, never converted", "[experiment][files]") {
  using nlohmann::json;
  CHECK(read_count(json::parse("0"), "n") == 0);
  CHECK(read_count(json::parse("1099511627776"), "n") == (int64_t{1} << 40));
  CHECK(read_count(json::parse("5"), "n", 5) == 5);
  // A float (even a whole one), 1e300, a negative, a string, beyond the bound, beyond int64: refused.
  for (const char* bad : {"2.5", "3.0", "1e300", "-1", "\"4\"", "null", "[1]", "1099511627777", "18446744073709551615"})
    CHECK_THROWS_WITH(read_count(json::parse(bad), "n"), "n is not a count");
  CHECK_THROWS_WITH(read_count(json::parse("6"), "n", 5), "n is not a count");
  CHECK(count_or(json::object(), "n", 7) == 7);
  CHECK(count_or(json::array(), "n", 7) == 7);
  CHECK_THROWS_WITH(count_or(json{{"n", 1e300}}, "n", 7), "n is not a count");
  // read_as / value_or: an integer type takes a whole number that fits it; other types as nlohmann reads them.
  CHECK(read_as<uint64_t>(json::parse("18446744073709551615"), "seed") == UINT64_MAX);
  CHECK_THROWS_WITH(read_as<uint64_t>(json::parse("1.5"), "seed"), "seed is not a whole number");  // no range: not why
  CHECK_THROWS_WITH(read_as<uint64_t>(json::parse("-1"), "seed"), Catch::StartsWith("seed is not a whole number"));
  CHECK(read_as<int>(json::parse("-5"), "w") == -5);
  CHECK_THROWS_WITH(read_as<int>(json::parse("2147483648"), "w"), "w is not a whole number from -2147483648 to 2147483647");
  CHECK_THROWS_WITH(read_as<int>(json::parse("1e300"), "w"), Catch::StartsWith("w is not a whole number"));
  CHECK_THROWS_WITH(read_as<int64_t>(json::parse("\"3\""), "w"), "w is not a whole number");
  CHECK(read_as<std::vector<int64_t>>(json::parse("[1, -2]"), "v") == std::vector<int64_t>{1, -2});
  CHECK_THROWS_WITH(read_as<std::vector<int64_t>>(json::parse("[1, 2.5]"), "v"), Catch::StartsWith("v is not a whole"));
  CHECK_THROWS_WITH(read_as<std::vector<int64_t>>(json::parse("3"), "v"), "v is not a list");
  CHECK(value_or(json{{"lr", 0.5}}, "lr", 1.0) == 0.5);
  CHECK(value_or(json::object(), "width", 7) == 7);
  CHECK_THROWS_WITH(value_or(json{{"lr", "x"}}, "lr", 1.0), "lr is not a number");

  // The readers of stored files that take counts refuse the same way (each once converted a float with get<int>).
  CHECK_THROWS_WITH(data::FacesSpec::from_json(json{{"size", 1e300}}), "faces spec: size is not a count");
  CHECK(data::FacesSpec::from_json(json{{"size", 32}}).size == 32);
  CHECK_THROWS_WITH(data::ImageDatasetSpec::from_json(json{{"kind", "npy"}, {"path", "x.npy"}, {"size", 2.5}}),
                    "data set spec: size is not a count");
  json row = {{"omega", 1.0}, {"interval", {0.0, nullptr}}, {"aux", "a"}, {"w2", 0.5}, {"precision", 0.9},
              {"recall", 0.8}, {"nfe", 70}, {"seconds", 1.0}};
  CHECK(metrics::sweep_row_from_json(row, {}).nfe == 70);
  row["nfe"] = 1e300;
  CHECK_THROWS_WITH(metrics::sweep_row_from_json(row, {}), "a stored sweep row is damaged: nfe is not a count");
  // A model's provenance naming its built-in set with a damaged size or seed: nothing to draw, no error.
  json prov = {{"data", {{"source", "builtin"}, {"spec", data::Toy2dSpec::named("gaussian").to_json()}, {"n", 50}}}};
  CHECK(data::training_points(prov, 100).size(0) == 50);
  prov["data"]["n"] = 1e300;
  CHECK_FALSE(data::training_points(prov, 100).defined());
  prov["data"]["n"] = 50, prov["data"]["seed"] = 0.5;
  CHECK_FALSE(data::training_points(prov, 100).defined());
  // A covariance that is not positive definite reached torch's Cholesky factor ("linalg.cholesky: The factorization
  // could not be completed"); values of the wrong kind gave nlohmann's words (found by tests/fuzz/fuzz_records.cpp).
  prov["data"]["seed"] = 0;
  prov["data"]["spec"]["cov"] = {1.0, 2.0, 2.0, 1.0};
  CHECK_FALSE(data::training_points(prov, 100).defined());
  prov["data"]["spec"]["cov"] = {1.0, 0.0, 0.0, 1.0};
  CHECK(data::training_points(prov, 100).defined());
  prov["data"]["source"] = 5;
  CHECK_FALSE(data::training_points(prov, 100).defined());
  const std::string spd = "2D data: cov must be a symmetric positive definite 2x2 matrix (row-major, entries up to 1e6)";
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json{{"cov", {1.0, 2.0, 2.0, 1.0}}}), spd);
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json{{"cov", {1.0, 0.5, 0.0, 1.0}}}), spd);
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json{{"cov", {-1.0, 0.0, 0.0, -1.0}}}), spd);
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json{{"mean", 11}}), "2D data: mean is not a list");
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json{{"mean", {0.0, 1e300}}}), "2D data: each mean must be from -1e6 to 1e6");
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json{{"noise", -0.1}}), "2D data: noise must be from 0 to 100");
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json{{"name", 3}}), "2D data: name is not text");
  CHECK_THROWS_WITH(data::Toy2dSpec::from_json(json::array()), "2D data: the specification is not a JSON object");
  const auto g = data::Toy2dSpec::from_json(json{{"cov", {2.0, 1.0, 1.0, 2.0}}, {"mean", {1.0, -1.0}}});
  CHECK(g.cov[1] == 1.0);
  CHECK(g.mean[1] == -1.0);
  for (const auto& name : data::toy2d_names())  // each built-in set reads back as written
    CHECK(data::Toy2dSpec::from_json(data::Toy2dSpec::named(name).to_json()).name == name);
  // A tuned-pair file beside an auxiliary.
  sims::test::TempDir dir;
  std::ifstream in(asset_path("models/grid25-aux.tune.json"));
  json tuned = json::parse(in);
  tuned["steps"] = 1e300;
  experiment::write_json_file(dir.file("aux.tune.json"), tuned);
  CHECK_THROWS_WITH(loops::read_tuned_pair(dir.file("aux.ckpt")), Catch::Contains("steps is not a count"));
}

namespace {
struct Small {
  int steps = 10;
};
}  // namespace

TEST_CASE("a stored value of the wrong kind is refused in plain words, never with nlohmann's tag", "[experiment][files]") {
  using nlohmann::json;
  // What nlohmann itself throws, reworded: the kind expected and found, a missing key, other messages untagged.
  auto words = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const nlohmann::json::exception& e) {
      return json_error_words(e);
    }
    return std::string("(no error)");
  };
  CHECK(words([] { (void)json("x").get<double>(); }) == "a number was expected, found text");
  CHECK(words([] { (void)json(1.5).get<std::string>(); }) == "text was expected, found a number");
  CHECK(words([] { (void)json::array().get<bool>(); }) == "true or false was expected, found a list");
  CHECK(words([] { (void)json(nullptr).get<std::vector<double>>(); }) == "a list was expected, found null");
  CHECK(words([] { (void)json::object().at("lr"); }) == "'lr' is missing");
  CHECK(words([] { (void)json::array().at(3); }) == "array index 3 is out of range");
  CHECK_THAT(words([] { (void)json(2).at("lr"); }), Catch::StartsWith("a value of the wrong kind (cannot use at()"));
  CHECK_THAT(words([] { [[maybe_unused]] const json j = json::parse("{"); }), !Catch::Contains("json.exception"));
  // A megabyte-long string in a message is cut; so is the value a message quotes.
  const std::string big(1 << 20, 'k');
  CHECK(words([&] { (void)json::object().at(big); }).size() <= 203);
  CHECK(json_brief(json(big)).size() == 63);
  CHECK(json_brief(json{{"a", 1}}) == "{\"a\":1}");

  // read_as / value_or check the kind of a number, a switch and text before reading them.
  CHECK_THROWS_WITH(read_as<double>(json("x"), "lr"), "lr is not a number");
  CHECK_THROWS_WITH(read_as<float>(json(nullptr), "lr"), "lr is not a number");
  CHECK(read_as<double>(json(3), "lr") == 3.0);
  CHECK_THROWS_WITH(read_as<bool>(json(1), "softmax"), "softmax is not true or false");
  CHECK_THROWS_WITH(read_as<std::string>(json(1), "name"), "name is not text");
  CHECK_THROWS_WITH(read_as<std::vector<std::string>>(json::parse("[\"a\", 2]"), "names"), "names is not text");

  // The readers users meet: a network configuration, a faces spec, a settings file of a run.
  json net = json::parse(R"({"type": "mlp", "width": 64, "dropout": "high"})");
  CHECK_THROWS_WITH(NetConfig::from_json(net), "network configuration: dropout is not a number");
  net["dropout"] = 0.1, net["type"] = 3;
  CHECK_THROWS_WITH(NetConfig::from_json(net), "network configuration: type is not text");
  CHECK_THROWS_WITH(AnalyticDenoiser::from_json(json{{"kind", 3}}, "g.json"), "g.json: kind is not text");
  json mix = json::parse(R"({"kind": "gaussian_mixture", "components": [{"mean": [0], "cov": [[1]], "weight": "1"}]})");
  CHECK_THROWS_WITH(AnalyticDenoiser::from_json(mix, "m.json"), "m.json: weight is not a number");
  mix["components"][0]["weight"] = 2;
  CHECK(AnalyticDenoiser::from_json(mix, "m.json") != nullptr);
  CHECK_THROWS_WITH(data::FacesSpec::from_json(json{{"group_ratio", "x"}}),
                    "faces spec: a number was expected, found text");
  const auto& s = outer_schema();
  CHECK_THROWS_WITH(read_settings(s, json{{"path", 3}}), "setting 'path' must be a string, got 3");
  CHECK_THROWS_WITH(read_settings(s, json{{"flag", big}}),
                    "setting 'flag' must be true or false, got \"" + std::string(59, 'k') + "...");
  // A run folder's run.json with fields of other kinds: "not a sims run file", naming it; a changed setting that
  // holds a long value is quoted cut, in one line.
  sims::test::TempDir tmp;
  for (const json& bad : {json{{"format", "sims-run"}, {"command", 3}, {"settings", json::object()}},
                          json{{"format", true}, {"command", "loop"}, {"settings", json::object()}}}) {
    fs::create_directories(tmp.path + "/r");
    write_json_file(tmp.path + "/r/run.json", bad);
    CHECK(message_of([&] { RunFolder rf(tmp.path + "/r", "loop", {{"n", 1}}); }) ==
          "'" + tmp.path + "/r/run.json' is not a sims run file; choose another --out");
    CHECK(RunFolder::command_of(tmp.path + "/r").empty());
  }
  write_json_file(tmp.path + "/r/run.json", {{"format", "sims-run"}, {"command", "loop"}, {"settings", {{"n", big}}}});
  const std::string changed = message_of([&] { RunFolder rf(tmp.path + "/r", "loop", {{"n", 1}}); });
  CHECK_THAT(changed, Catch::Contains("was started with n = \"kkk") && Catch::Contains("... (now 1)"));
  CHECK(changed.size() < 500);
  // An int setting beyond int is refused, not wrapped (4294967297 once became 1, inside the range).
  static const Schema<Small> small = Schema<Small>("small").integer("steps", &Small::steps, "--steps", "steps", 1, 100);
  CHECK(read_settings(small, json{{"steps", 7}}).steps == 7);
  CHECK(read_as<uint64_t>(json(int64_t{5}), "seed") == 5);  // a positive value held as signed (built in code)
  CHECK_THROWS_WITH(read_settings(small, json{{"steps", 4294967297LL}}),
                    "setting 'steps' is not a whole number from -2147483648 to 2147483647");
}
