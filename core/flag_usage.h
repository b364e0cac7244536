// Command-line help for the programs (theano-serving, theano-serving-cli): absl's own --help lists
// only the flags of a file named like the program, then says "No flags matched" and exits 1.
// These print the program's usage and every flag of its main file instead, and exit 0.
#ifndef THEANO_SERVING_CORE_FLAG_USAGE_H_
#define THEANO_SERVING_CORE_FLAG_USAGE_H_

#include <ostream>
#include <string>

#include "absl/strings/string_view.h"

namespace theano_serving {

struct ProgramUsage {
  std::string usage;       // printed after "usage: "
  std::string flags_file;  // the flags listed are those defined in a file ending with this
  std::string version;     // for --version (absl's), e.g. "theano-serving 0.1.0"; empty: none
};

// True for --help, -help, -h, --helpshort and -helpshort.
bool IsHelpArgument(absl::string_view arg);

// "usage: <usage>", then "Flags:" and every flag of usage.flags_file sorted by name:
// "  --name (default: D)" and its help text wrapped at 100 columns.
void PrintUsage(std::ostream& out, const ProgramUsage& usage);

// If an argument before "--" asks for help, prints PrintUsage to `out` and returns true (the
// program then exits 0). Otherwise sets absl's usage message, help-file filter and version
// string for the help flags absl still handles (--helpfull, --help=SUBSTRING, --version) and
// returns false.
bool HandleHelp(int argc, char** argv, const ProgramUsage& usage, std::ostream& out);

}  // namespace theano_serving

#endif  // THEANO_SERVING_CORE_FLAG_USAGE_H_
