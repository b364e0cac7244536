// Mutual TLS on the real server, with a throw-away CA, server and client certificates made by the
// openssl CLI: a client with a certificate signed by the CA is served; one without a certificate,
// or with one from another CA, is refused.
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/file_util.h"
#include "gtest/gtest.h"
#include "tests/integration/fashion_data.h"
#include "tests/integration/server_process.h"
#include "theano_serving/v1/classification.grpc.pb.h"

namespace theano_serving {
namespace testing_util {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";
constexpr char kServerName[] = "localhost";

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kOpenssl, X_OK), 0) << kOpenssl << " missing: apt-get install openssl";
    ASSERT_TRUE(WriteFile(dir_.File("server.ext"),
                          "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                          "extendedKeyUsage=serverAuth\n")
                    .ok());
    ASSERT_TRUE(WriteFile(dir_.File("client.ext"), "extendedKeyUsage=clientAuth\n").ok());
    MakeCa("ca");
    MakeCa("other_ca");
    MakeLeaf("server", "ca", "localhost", "server.ext");
    MakeLeaf("client", "ca", "theano-serving-test-client", "client.ext");
    MakeLeaf("stranger", "other_ca", "stranger", "client.ext");
  }

  void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), kOpenssl);
    const CommandResult r = RunCommand(args);
    ASSERT_TRUE(ExitedCleanly(r.status))
        << absl::StrJoin(args, " ") << ": " << DescribeWaitStatus(r.status) << "\n"
        << r.output;
  }

  // P-256 keys: fast to generate, supported by gRPC's BoringSSL/OpenSSL.
  void MakeCa(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "1", "-subj", "/CN=theano-serving test " + name, "-keyout",
             dir_.File(name + ".key"), "-out", dir_.File(name + ".crt")});
  }

  void MakeLeaf(const std::string& name, const std::string& ca, const std::string& cn,
                const std::string& ext) {
    Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
             "/CN=" + cn, "-keyout", dir_.File(name + ".key"), "-out", dir_.File(name + ".csr")});
    Openssl({"x509", "-req", "-in", dir_.File(name + ".csr"), "-CA", dir_.File(ca + ".crt"),
             "-CAkey", dir_.File(ca + ".key"), "-CAcreateserial", "-days", "1", "-extfile",
             dir_.File(ext), "-out", dir_.File(name + ".crt")});
  }

  std::string Pem(const std::string& file) {
    return ReadFileToString(dir_.File(file)).value_or("");
  }

  // TLS channel credentials trusting our CA, optionally presenting `client` (.crt/.key).
  std::shared_ptr<grpc::ChannelCredentials> Credentials(const std::string& client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem("ca.crt");
    if (!client.empty()) {
      options.pem_cert_chain = Pem(client + ".crt");
      options.pem_private_key = Pem(client + ".key");
    }
    return grpc::SslCredentials(options);
  }

  TempDir dir_;
};

TEST_F(TlsTest, MutualTlsAcceptsSignedClientsOnly) {
  const std::vector<Sample> samples = LoadSamples();
  ASSERT_FALSE(samples.empty());
  ServerOptions options;
  options.insecure = false;
  options.extra_args = {"--tls_cert=" + dir_.File("server.crt"),
                        "--tls_key=" + dir_.File("server.key"),
                        "--tls_client_ca=" + dir_.File("ca.crt")};
  options.credentials = Credentials("client");
  options.channel_args = {{GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, kServerName}};
  auto server = ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->WaitForStderr("(TLS)", absl::Seconds(1))) << (*server)->Stderr();

  const auto classify = [&](std::shared_ptr<grpc::ChannelCredentials> credentials,
                            v1::ClassifyResponse* response) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(kServerName);
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    auto channel = grpc::CreateCustomChannel((*server)->grpc_address(), credentials, args);
    auto stub = v1::ClassificationService::NewStub(channel);
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    return stub->Classify(&context, MakeClassifyRequest(kModel, {&samples[0]}), response);
  };

  v1::ClassifyResponse response;
  grpc::Status status = classify(Credentials("client"), &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).classes(0).index(), samples[0].prediction);

  // No client certificate: the handshake fails.
  status = classify(Credentials(""), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  // A certificate from a CA the server does not trust.
  grpc::SslCredentialsOptions stranger;
  stranger.pem_root_certs = Pem("ca.crt");
  stranger.pem_cert_chain = Pem("stranger.crt");
  stranger.pem_private_key = Pem("stranger.key");
  status = classify(grpc::SslCredentials(stranger), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();

  // Plaintext against a TLS port.
  status = classify(grpc::InsecureChannelCredentials(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

}  // namespace
}  // namespace testing_util
}  // namespace theano_serving
