// theano-serving-cli against the real server: `classify` answers per file, each named by the path
// it was given (a good PNG, a GIF and a text file: the PNG classified, the two others an error
// line each, exit status 1), batched or not, in text and JSON. And `--help` of both binaries
// prints their usage and flags, exit 0, never absl's "No flags matched".
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/server_process.h"

namespace theano_serving {
namespace testing_util {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A 1x1 GIF89a, by hand: header and logical screen (1x1, 2-colour table), the table (white,
// black), a graphic control extension, the image descriptor, LZW data (min code size 2), trailer.
// Debian's OpenCV 4.6 cannot decode GIF.
const std::string& Gif() {
  static const std::string* gif = new std::string(
      "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00\x21\xf9\x04\x01\x00\x00\x00"
      "\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b",
      43);
  return *gif;
}

struct CliRun {
  std::optional<int> status;
  std::string out;
  std::string err;
};

// Runs a binary of build/bin with `args` to completion (30 s at most; killed after that).
CliRun RunBinary(const std::string& binary, const std::vector<std::string>& args) {
  TempDir dir;
  std::vector<std::string> argv = {BinDir() + "/" + binary};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::Start(argv, dir.File("stdout"), dir.File("stderr"));
  if (!child.ok()) return {std::nullopt, "", std::string(child.status().message())};
  CliRun run;
  run.status = (*child)->WaitExit(absl::Seconds(30));
  run.out = (*child)->Stdout();
  run.err = (*child)->Stderr();
  return run;
}

int ExitCode(const std::optional<int>& status) {
  return status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

class CliClassifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    png_ = SourceDir() + "/models/fashion_lenet/samples/0000_ankle_boot.png";
    gif_ = dir_.File("animation.gif");
    text_ = dir_.File("notes.txt");
    ASSERT_TRUE(WriteFile(gif_, Gif()).ok());
    ASSERT_TRUE(WriteFile(text_, "not an image\n").ok());
  }

  CliRun Classify(const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"classify", "--server", server_->grpc_address()};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {png_, gif_, text_});
    return RunBinary("theano-serving-cli", args);
  }

  std::unique_ptr<ServerProcess> server_;
  TempDir dir_;
  std::string png_, gif_, text_;
};

TEST_F(CliClassifyTest, EachFileNamedByItsPathAndTheGoodOneClassified) {
  // 8 per request (the default: one Classify for the three files, which the server refuses for
  // images[1]) and 1 per request must say the same.
  for (const char* per_request : {"8", "1"}) {
    SCOPED_TRACE(absl::StrCat("--images_per_request ", per_request));
    const CliRun run = Classify({"--images_per_request", per_request, "--top_k", "2"});
    EXPECT_EQ(ExitCode(run.status), 1) << DescribeWaitStatus(run.status) << "\n" << run.err;
    // stdout: the PNG and its classes (Theano's top-1 for this sample is Ankle boot, class 9).
    EXPECT_THAT(run.out, StartsWith(png_ + "\n  Ankle boot "));
    EXPECT_THAT(run.out, HasSubstr("(class 9)\n"));
    EXPECT_THAT(run.out, Not(HasSubstr(gif_)));
    // stderr: one line per bad file, named by its path.
    EXPECT_EQ(run.err,
              absl::StrCat("error: ", gif_,
                           ": INVALID_ARGUMENT: image is not a decodable PNG/JPEG/BMP/TIFF/WebP "
                           "(GIF is not supported; 43 bytes)\n",
                           "error: ", text_,
                           ": INVALID_ARGUMENT: image is not a decodable PNG/JPEG/BMP/TIFF/WebP "
                           "(13 bytes)\n"));
    EXPECT_THAT(run.out + run.err, Not(HasSubstr("images[")));
  }
}

TEST_F(CliClassifyTest, JsonHasOneResultPerFileInOrder) {
  const CliRun run = Classify({"--json"});
  EXPECT_EQ(ExitCode(run.status), 1) << DescribeWaitStatus(run.status) << "\n" << run.err;
  const nlohmann::json out = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << run.out;
  EXPECT_EQ(out["model_name"], "fashion_lenet");
  const nlohmann::json& results = out["results"];
  ASSERT_EQ(results.size(), 3u) << run.out;
  EXPECT_EQ(results[0]["path"], png_);
  EXPECT_EQ(results[0]["classes"][0]["label"], "Ankle boot");
  EXPECT_EQ(results[1]["path"], gif_);
  EXPECT_EQ(results[1]["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(results[1]["error"]["message"].get<std::string>(), HasSubstr("GIF is not supported"));
  EXPECT_EQ(results[2]["path"], text_);
  EXPECT_EQ(results[2]["error"]["code"], "INVALID_ARGUMENT");
}

TEST(CliHelpTest, BothBinariesPrintUsageAndFlags) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"}}) {
    SCOPED_TRACE(args[0]);
    const CliRun cli = RunBinary("theano-serving-cli", args);
    EXPECT_EQ(ExitCode(cli.status), 0) << DescribeWaitStatus(cli.status);
    EXPECT_THAT(cli.out, StartsWith("usage: theano-serving-cli [flags] SUBCOMMAND"));
    EXPECT_THAT(cli.out, HasSubstr("\n  --server (default: 127.0.0.1:8500)\n"));
    EXPECT_THAT(cli.out + cli.err, Not(HasSubstr("No flags matched")));
  }
  for (const char* flag : {"--help", "-h"}) {
    SCOPED_TRACE(flag);
    const CliRun server = RunBinary("theano-serving", {flag});
    EXPECT_EQ(ExitCode(server.status), 0) << DescribeWaitStatus(server.status);
    EXPECT_THAT(server.out, StartsWith("usage: theano-serving [--model_repository=DIR]"));
    EXPECT_THAT(server.out, HasSubstr("\n  --grpc_port (default: 8500)\n"));
    EXPECT_THAT(server.out, HasSubstr("\n  --insecure (default: false)\n"));
    EXPECT_THAT(server.out + server.err, Not(HasSubstr("No flags matched")));
  }
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
