// Command-line Java client for theano-serving's ClassificationService (see docs/JAVA.md).
//
// The lines a Java program needs (classes generated from
// proto/theano_serving/v1/classification.proto, package io.theanoserving.v1):
//
//   ManagedChannel channel = ManagedChannelBuilder.forTarget("127.0.0.1:8500").usePlaintext().build();
//   ClassificationServiceGrpc.ClassificationServiceBlockingStub stub =
//       ClassificationServiceGrpc.newBlockingStub(channel);
//   ClassifyRequest request = ClassifyRequest.newBuilder()
//       .setModelName("fashion_lenet")
//       .addImages(Image.newBuilder().setData(ByteString.copyFrom(Files.readAllBytes(path))))
//       .build();                                  // .setTopK(3) to choose how many classes
//   ClassifyResponse response = stub.withDeadlineAfter(30, TimeUnit.SECONDS).classify(request);
//   for (io.theanoserving.v1.Class c : response.getResults(0).getClassesList())
//     System.out.println(c.getLabel() + " " + c.getScore());     // best first
//   channel.shutdownNow();
//
// Errors arrive as io.grpc.StatusRuntimeException; getStatus().getCode() is the gRPC status code.
package io.theanoserving;

import com.google.protobuf.ByteString;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.theanoserving.v1.ClassificationServiceGrpc;
import io.theanoserving.v1.ClassifyRequest;
import io.theanoserving.v1.ClassifyResponse;
import io.theanoserving.v1.Classifications;
import io.theanoserving.v1.Image;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * {@code classify.sh --server HOST:PORT [--model NAME] [--top_k K] [--tls_ca FILE] IMAGE...}
 *
 * <p>Prints, per image, one line {@code label score} per class, best first. With more than one
 * image each image's block starts with its path on a line of its own and its class lines are
 * indented by two spaces. Exit codes: 0 ok, 1 gRPC or I/O error, 2 usage error.
 */
public final class ClassifyClient {
  private static final String USAGE =
      "usage: classify.sh --server HOST:PORT [--model NAME] [--top_k K] [--tls_ca FILE]"
          + " [--timeout_s S] IMAGE...";
  // Images per Classify call; the server's default cap (--max_images_per_request) is 64.
  private static final int IMAGES_PER_REQUEST = 16;

  public static void main(String[] args) throws InterruptedException {
    String server = null;
    String model = "fashion_lenet";
    Integer topK = null; // unset: the server returns 5, clamped to the class count
    String tlsCa = null;
    long timeoutS = 30;
    List<String> images = new ArrayList<>();
    try {
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (!a.startsWith("--") || a.equals("--")) {
          if (!a.equals("--")) images.add(a);
          else for (i++; i < args.length; i++) images.add(args[i]);
          continue;
        }
        int eq = a.indexOf('=');
        String name = eq < 0 ? a : a.substring(0, eq);
        if (name.equals("--help") || name.equals("-h")) {
          System.out.println(USAGE);
          return;
        }
        String value;
        if (eq >= 0) value = a.substring(eq + 1);
        else if (i + 1 < args.length) value = args[++i];
        else throw new IllegalArgumentException(name + " needs a value");
        switch (name) {
          case "--server": server = value; break;
          case "--model": model = value; break;
          case "--top_k": topK = parseNumber(name, value).intValue(); break;
          case "--tls_ca": tlsCa = value; break;
          case "--timeout_s": timeoutS = parseNumber(name, value); break;
          default: throw new IllegalArgumentException("unknown flag " + name);
        }
      }
      if (server == null) throw new IllegalArgumentException("--server HOST:PORT is required");
      if (images.isEmpty()) throw new IllegalArgumentException("give at least one image file");
    } catch (IllegalArgumentException e) {
      System.err.println("classify: " + e.getMessage() + "\n" + USAGE);
      System.exit(2);
    }

    ManagedChannel channel = null;
    int exit = 0;
    try {
      ChannelCredentials creds =
          tlsCa == null
              ? InsecureChannelCredentials.create()
              : TlsChannelCredentials.newBuilder().trustManager(new File(tlsCa)).build();
      channel = Grpc.newChannelBuilder(server, creds).build();
      ClassificationServiceGrpc.ClassificationServiceBlockingStub stub =
          ClassificationServiceGrpc.newBlockingStub(channel);
      for (int first = 0; first < images.size(); first += IMAGES_PER_REQUEST) {
        List<String> chunk =
            images.subList(first, Math.min(images.size(), first + IMAGES_PER_REQUEST));
        ClassifyRequest.Builder request = ClassifyRequest.newBuilder().setModelName(model);
        if (topK != null) request.setTopK(topK);
        for (String path : chunk) {
          byte[] data;
          try {
            data = Files.readAllBytes(Path.of(path));
          } catch (IOException e) {
            throw new IOException("cannot read " + path + ": " + e.getClass().getSimpleName(), e);
          }
          request.addImages(Image.newBuilder().setData(ByteString.copyFrom(data)).setId(path));
        }
        ClassifyResponse response =
            stub.withDeadlineAfter(timeoutS, TimeUnit.SECONDS).classify(request.build());
        if (response.getResultsCount() != chunk.size()) {
          throw new IOException(chunk.size() + " images sent, "
              + response.getResultsCount() + " results received");
        }
        for (int i = 0; i < chunk.size(); i++) {
          print(response.getResults(i), chunk.get(i), images.size() > 1);
        }
      }
    } catch (StatusRuntimeException e) {
      String desc = e.getStatus().getDescription();
      Throwable cause = e.getStatus().getCause();
      System.err.println("error: Classify: " + e.getStatus().getCode() + ": " + desc
          + (cause != null ? " (" + cause.getMessage() + ")" : ""));
      exit = 1;
    } catch (IOException | RuntimeException e) {
      System.err.println("error: " + e.getMessage());
      exit = 1;
    } finally {
      System.out.flush();
      if (channel != null) channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    System.exit(exit);
  }

  private static Long parseNumber(String flag, String value) {
    try {
      return Long.valueOf(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag + ": not an integer: \"" + value + "\"");
    }
  }

  private static void print(Classifications result, String path, boolean several) {
    if (several) System.out.println(path);
    String indent = several ? "  " : "";
    for (io.theanoserving.v1.Class c : result.getClassesList()) {
      System.out.println(indent + c.getLabel() + " "
          + String.format(Locale.ROOT, "%.6f", c.getScore()));
    }
  }
}
