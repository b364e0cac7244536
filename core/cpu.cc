// ParseIsa: the --isa flag of the programs (server, theano-serving-model, bench_peers).
#include "core/cpu.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace theano_serving {

absl::StatusOr<Isa> ParseIsa(absl::string_view name) {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kPortable}) {
    if (name == IsaString(isa)) return isa;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("isa must be avx512, avx2 or portable, got \"", name, "\""));
}

}  // namespace theano_serving
