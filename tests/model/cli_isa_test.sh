#!/bin/sh
# theano-serving-model's --isa, one case per ctest test (tests/model/CMakeLists.txt):
#   cli_isa_test.sh TOOL MODEL_DIR unknown        --isa nope: exit 2 and the message naming the choices
#   cli_isa_test.sh TOOL MODEL_DIR missing_avx512 --isa avx512 on a CPU without AVX-512: refused at
#       load, exit 2, naming the CPU's widest; exit 77 (skipped) on a CPU that has it.
set -u
tool=$1 model=$2 case=$3

# expect_failure WANT_TEXT COMMAND...: COMMAND must exit 2 and print WANT_TEXT on stderr.
expect_failure() {
  want=$1
  shift
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ]; then
    echo "FAIL: exit status $rc (expected 2): $*"
    echo "$err"
    exit 1
  fi
  case $err in
    *"$want"*) echo "ok: $*: $err" ;;
    *)
      echo "FAIL: stderr of $* lacks: $want"
      echo "stderr: $err"
      exit 1
      ;;
  esac
}

case $case in
  unknown)
    expect_failure 'theano-serving-model: --isa must be avx512, avx2 or portable, got "nope"' \
      "$tool" bench "$model" --isa nope --runs 3 --json
    expect_failure 'theano-serving-model: --isa must be avx512, avx2 or portable, got "AVX2"' \
      "$tool" inspect "$model" --isa=AVX2
    ;;
  missing_avx512)
    if grep -qw avx512f /proc/cpuinfo; then
      echo "skipped: this CPU has AVX-512F, so --isa avx512 is not refused here"
      exit 77
    fi
    expect_failure 'theano-serving-model: isa avx512 is not available on this CPU (it has ' \
      "$tool" bench "$model" --isa avx512 --runs 3 --json
    expect_failure 'isa avx512 is not available on this CPU (it has ' \
      "$tool" predict "$model" --isa avx512 "$model/../samples/0000_ankle_boot.png"
    ;;
  *)
    echo "cli_isa_test.sh: unknown case $case"
    exit 2
    ;;
esac
