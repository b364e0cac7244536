// The server's --isa (diagnosis: the fast engine's kernels of one instruction set): --isa=portable
// serves the embedded model with Theano's answers and says so in its ready line; an unknown name,
// and one the CPU lacks (testable on a CPU without AVX-512 only), stop it before it serves, with
// a non-zero exit status and the reason. --winograd likewise: a value other than auto is named in
// the ready line, an unknown one stops the server.
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/cpu.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

using ::testing::HasSubstr;

TEST(IsaTest, PortableServesTheEmbeddedModelWithTheanosAnswers) {
  const std::vector<Sample> samples = LoadSamples();
  ASSERT_EQ(samples.size(), 20u);
  ServerOptions options;
  options.extra_args = {"--isa=portable"};
  auto server = ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  // The ready line follows the port file the harness waited for.
  const std::string engine = absl::StrCat(
      " engine fast (isa portable by --isa; this CPU runs up to ", IsaString(CpuIsa()), ")");
  EXPECT_TRUE((*server)->WaitForStderr(engine, absl::Seconds(10))) << (*server)->Stderr();

  auto stub = v1::ClassificationService::NewStub((*server)->channel());
  std::vector<const Sample*> all;
  for (const Sample& s : samples) all.push_back(&s);
  v1::ClassifyRequest request = MakeClassifyRequest(kModel, all);
  request.set_top_k(kClasses);
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(30));
  v1::ClassifyResponse response;
  const grpc::Status status = stub->Classify(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(response.results_size(), 20);
  for (int i = 0; i < 20; ++i) {
    const Sample& s = samples[static_cast<size_t>(i)];
    const v1::Classifications& r = response.results(i);
    SCOPED_TRACE(s.file);
    EXPECT_EQ(r.id(), s.file);
    ASSERT_EQ(r.classes_size(), kClasses);
    EXPECT_EQ(r.classes(0).index(), s.prediction);
    for (const v1::Class& c : r.classes()) {
      ASSERT_GE(c.index(), 0);
      ASSERT_LT(c.index(), kClasses);
      EXPECT_NEAR(c.score(), s.probabilities[static_cast<size_t>(c.index())], kTheanoAtol)
          << "class " << c.index();
    }
  }
}

// Starts the server with `isa_flag`; it must exit non-zero at once (before listening).
CommandResult StartWithIsa(const std::string& isa_flag) {
  return RunCommand({BinDir() + "/theano-serving", "--host=127.0.0.1", "--grpc_port=0",
                     "--metrics_port=0", "--insecure",
                     "--model_repository=" + SourceDir() + "/models", isa_flag});
}

bool ExitedNonZero(const std::optional<int>& status) {
  return status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) != 0;
}

TEST(IsaTest, UnknownIsaStopsTheServer) {
  const CommandResult r = StartWithIsa("--isa=nope");
  EXPECT_TRUE(ExitedNonZero(r.status)) << DescribeWaitStatus(r.status) << "\n" << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("theano-serving: --isa must be avx512, avx2 or portable, got \"nope\""));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr(" ready: ")));
}

TEST(IsaTest, WinogradNeverIsNamedInTheReadyLine) {
  ServerOptions options;
  options.extra_args = {"--winograd=never"};
  auto server = ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string engine = absl::StrCat(" engine fast (isa ", IsaString(CpuIsa()),
                                          ", this CPU's widest; winograd never)");
  EXPECT_TRUE((*server)->WaitForStderr(engine, absl::Seconds(10))) << (*server)->Stderr();
}

TEST(IsaTest, UnknownWinogradStopsTheServer) {
  const CommandResult r = StartWithIsa("--winograd=sometimes");
  EXPECT_TRUE(ExitedNonZero(r.status)) << DescribeWaitStatus(r.status) << "\n" << r.output;
  EXPECT_THAT(r.output, HasSubstr("theano-serving: --winograd must be auto, never or always, got "
                                  "\"sometimes\""));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr(" ready: ")));
}

TEST(IsaTest, IsaTheCpuLacksStopsTheServer) {
  if (CpuIsa() == Isa::kAvx512) {
    GTEST_SKIP() << "this CPU has avx512, the widest there is: no --isa it lacks to refuse";
  }
  const CommandResult r = StartWithIsa("--isa=avx512");
  EXPECT_TRUE(ExitedNonZero(r.status)) << DescribeWaitStatus(r.status) << "\n" << r.output;
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat("theano-serving: --isa=avx512: isa avx512 is not available "
                                     "on this CPU (it has ",
                                     IsaString(CpuIsa()), ")")));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr(" ready: ")));
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
