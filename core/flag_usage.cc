#include "core/flag_usage.h"

#include <algorithm>
#include <vector>

#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace theano_serving {

bool IsHelpArgument(absl::string_view arg) {
  return arg == "--help" || arg == "-help" || arg == "-h" || arg == "--helpshort" ||
         arg == "-helpshort";
}

void PrintUsage(std::ostream& out, const ProgramUsage& usage) {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), usage.flags_file)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) {
              return a->Name() < b->Name();
            });
  out << "usage: " << usage.usage << "\n\nFlags:\n";
  for (const absl::CommandLineFlag* flag : flags) {
    const std::string default_value = flag->DefaultValue();
    out << "  --" << flag->Name()
        << (default_value.empty() ? "" : absl::StrCat(" (default: ", default_value, ")")) << "\n";
    std::string line = "     ";
    for (absl::string_view word : absl::StrSplit(flag->Help(), ' ', absl::SkipEmpty())) {
      if (line.size() > 5 && line.size() + 1 + word.size() > 100) {
        out << line << "\n";
        line = "     ";
      }
      absl::StrAppend(&line, " ", word);
    }
    out << line << "\n";
  }
}

bool HandleHelp(int argc, char** argv, const ProgramUsage& usage, std::ostream& out) {
  for (int i = 1; i < argc && absl::string_view(argv[i]) != "--"; ++i) {
    if (IsHelpArgument(argv[i])) {
      PrintUsage(out, usage);
      return true;
    }
  }
  absl::SetProgramUsageMessage(usage.usage);
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [file = usage.flags_file](absl::string_view f) {
    return absl::EndsWith(f, file);
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  if (!usage.version.empty()) {
    config.version_string = [version = usage.version] { return version + "\n"; };
  }
  absl::SetFlagsUsageConfig(config);
  return false;
}

}  // namespace theano_serving
