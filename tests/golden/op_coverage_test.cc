// Adding an op is complete only when it is written down and pinned: every op of the factory
// (KnownOps(), core/layer_factory.cc) must have its rule in docs/THEANO_SEMANTICS.md and be pinned
// by what real Theano computed — a golden case (tests/golden/*.json) or an import case
// (tests/import/, whose imported model.json the import_<case> tests write to
// build/import_models/<case>/1/ after comparing it with Theano's outputs) — or say *not pinned* in
// its rule. Everything is derived from those files: there is no list of ops here to keep.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/file_util.h"
#include "core/json_util.h"
#include "core/layer_factory.h"
#include "gtest/gtest.h"
#include "tests/testing/golden_testing.h"

namespace theano_serving {
namespace {

const std::string kSource = TS_SOURCE_DIR;
constexpr char kSemantics[] = "docs/THEANO_SEMANTICS.md";

// Where docs/THEANO_SEMANTICS.md states an op's rule: a "## " section whose heading names it, or a
// row of a table whose first cell names it ("| `tanh` | formula | golden |").
struct Rule {
  std::string heading;  // The section's "## " line.
  int line = 0;         // 1-based line of the heading or of the row.
  std::string text;     // The section, or the row alone for an op of a table.
};

// The ops a heading names: "## softmax / log_softmax — `nnet.softmax`, ..." names softmax and
// log_softmax (the words before the dash), "## Element-wise arithmetic — `add`, `sub`, ..." names
// add and sub (whole backticked spans).
std::set<std::string> OpsOfHeading(absl::string_view title) {
  std::set<std::string> ops;
  const std::vector<absl::string_view> halves = absl::StrSplit(title, absl::MaxSplits(" — ", 1));
  for (absl::string_view word : absl::StrSplit(halves[0], absl::ByAnyChar("/,"))) {
    ops.insert(std::string(absl::StripAsciiWhitespace(word)));
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(title, '`');
  for (size_t i = 1; i < parts.size(); i += 2) ops.insert(std::string(parts[i]));
  return ops;
}

// Every op named in THEANO_SEMANTICS.md, with the rules that name it.
std::map<std::string, std::vector<Rule>> RulesOfSemantics(const std::string& markdown) {
  struct Section {
    Rule rule;
    std::map<std::string, Rule> rows;  // op → its table row
  };
  std::vector<Section> sections;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(markdown, '\n')) {
    ++number;
    if (absl::StartsWith(line, "## ")) {
      sections.push_back({{std::string(line), number, ""}, {}});
      continue;
    }
    if (sections.empty()) continue;
    Section& section = sections.back();
    absl::StrAppend(&section.rule.text, line, "\n");
    // "| `relu` (alpha = 0, default) | ...": the first cell's first backticked span.
    if (absl::StartsWith(line, "| `")) {
      const std::vector<absl::string_view> parts = absl::StrSplit(line, '`');
      section.rows[std::string(parts[1])] = {section.rule.heading, number, std::string(line)};
    }
  }
  std::map<std::string, std::vector<Rule>> rules;
  for (const Section& section : sections) {
    for (const std::string& op : OpsOfHeading(section.rule.heading.substr(3))) {
      rules[op].push_back(section.rule);
    }
    for (const auto& [op, row] : section.rows) rules[op].push_back(row);
  }
  return rules;
}

// The op names a golden case runs: its "op", the "fn" of an "elemwise" case, the layers of a
// "network" case.
std::vector<std::string> OpsOfGoldenCase(const nlohmann::json& c) {
  const std::string op = c.value("op", "");
  if (op == "elemwise") return {c.at("attrs").value("fn", "")};
  if (op != "network") return {op};
  std::vector<std::string> ops;
  for (const nlohmann::json& layer : c.at("layers")) ops.push_back(layer.value("op", ""));
  return ops;
}

// op → what of Theano's data pins it ("golden case conv2d.json: conv2d_valid_s11_flip",
// "import case lasagne_raw_tensor"), the first found.
std::map<std::string, std::string> TheanoPins() {
  std::map<std::string, std::string> pins;
  for (const std::string& file : testing_util::GoldenFiles()) {
    for (const nlohmann::json& c : testing_util::LoadGoldenCases(file)) {
      for (const std::string& op : OpsOfGoldenCase(c)) {
        pins.emplace(op, absl::StrCat("golden case ", file, ": ", c.value("name", "?")));
      }
    }
  }
  namespace fs = std::filesystem;
  for (const fs::directory_entry& entry : fs::directory_iterator(kSource + "/tests/import")) {
    if (!fs::exists(entry.path() / "case.json")) continue;
    const std::string name = entry.path().filename().string();
    const std::string model = absl::StrCat(TS_BINARY_DIR, "/import_models/", name, "/1/model.json");
    auto json = ReadJsonFile(model);
    if (!json.ok()) {
      ADD_FAILURE() << json.status() << "\nThe import_" << name
                    << " test writes it after comparing the import with Theano's outputs; run "
                       "it first (ctest runs it for this test: fixture import_models).";
      continue;
    }
    for (const nlohmann::json& layer : json->value("layers", nlohmann::json::array())) {
      pins.emplace(layer.value("op", ""), absl::StrCat("import case ", name));
    }
  }
  return pins;
}

bool SaysNotPinned(const std::vector<Rule>& rules) {
  for (const Rule& rule : rules) {
    if (absl::StrContains(absl::AsciiStrToLower(rule.text), "*not pinned*")) return true;
  }
  return false;
}

TEST(OpCoverageTest, EveryOpHasATheanoSemanticsRuleAndIsPinnedByTheanoOrSaysNot) {
  auto markdown = ReadFileToString(kSource + "/" + kSemantics);
  ASSERT_TRUE(markdown.ok()) << markdown.status();
  const std::map<std::string, std::vector<Rule>> rules = RulesOfSemantics(*markdown);
  const std::map<std::string, std::string> pins = TheanoPins();
  ASSERT_FALSE(KnownOps().empty());
  for (const std::string& op : KnownOps()) {
    SCOPED_TRACE(op);
    auto rule = rules.find(op);
    if (rule == rules.end()) {
      ADD_FAILURE() << "op \"" << op << "\" (KnownOps(), core/layer_factory.cc) has no rule in "
                    << kSemantics << ". Add a section \"## " << op
                    << " — <the Theano function>\" (or a row \"| `" << op
                    << "` | formula | golden |\" in its family's table) with the formula, output "
                       "shape, edge cases, errors and the golden or import cases that pin it.";
      continue;
    }
    if (pins.count(op) != 0 || SaysNotPinned(rule->second)) continue;
    std::vector<std::string> where;
    for (const Rule& r : rule->second) where.push_back(absl::StrCat("line ", r.line));
    ADD_FAILURE() << "op \"" << op << "\" is pinned by no Theano data: no case of "
                  << "tests/golden/*.json runs it (as \"op\", as the \"fn\" of an elemwise case, "
                     "or as a layer of a network case) and no model imported from tests/import/ "
                     "has a layer with it. Add a golden case made with Theano 1.0.5 "
                     "(tests/golden/README.md) or an import case made with Theano whose network "
                     "uses it (tests/import/README.md), or write *not pinned* in its rule in "
                  << kSemantics << " (" << absl::StrJoin(where, ", ")
                  << ") and say which hand-computed unit test checks it.";
  }
}

// The derivation itself: the ops each source pins or names (so that a change of format in the
// golden files, the imported models or the document cannot make the test above vacuous).
TEST(OpCoverageTest, SourcesAreReadAsExpected) {
  const std::map<std::string, std::string> pins = TheanoPins();
  EXPECT_EQ(pins.count("conv2d"), 1u);                        // a golden case's op
  EXPECT_EQ(pins.count("ultra_fast_sigmoid"), 1u);            // an elemwise case's fn
  EXPECT_TRUE(absl::StartsWith(pins.at("tanh"), "golden"));   // also a network layer
  EXPECT_EQ(pins.count("local_response_normalization"), 1u);  // an import case's layer
  EXPECT_EQ(pins.count("sqrt"), 0u);                          // pinned by hand only
  auto markdown = ReadFileToString(kSource + "/" + kSemantics);
  ASSERT_TRUE(markdown.ok()) << markdown.status();
  const auto rules = RulesOfSemantics(*markdown);
  for (const char* op : {"conv2d", "log_softmax", "sub", "min", "tanh", "clip"}) {
    EXPECT_EQ(rules.count(op), 1u) << op;
  }
  EXPECT_FALSE(SaysNotPinned(rules.at("tanh")));  // its row, not its section (softsign's row is)
  EXPECT_TRUE(SaysNotPinned(rules.at("softsign")));
}

}  // namespace
}  // namespace theano_serving
