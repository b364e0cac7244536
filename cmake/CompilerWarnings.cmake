# theano_serving_warnings: an interface target every first-party target links, so warnings are set
# per target rather than globally.
add_library(theano_serving_warnings INTERFACE)
target_compile_options(theano_serving_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                         -Wnon-virtual-dtor -Werror=return-type)
if(THEANO_SERVING_SANITIZE)
  target_compile_options(theano_serving_warnings INTERFACE -fsanitize=address,undefined
                                                           -fno-sanitize-recover=all
                                                           -fno-omit-frame-pointer)
  target_link_options(theano_serving_warnings INTERFACE -fsanitize=address,undefined)
endif()
# ThreadSanitizer (scripts/tsan.sh). Only sound with an instrumented Abseil (absl::Mutex must be
# seen by TSan): scripts/build_absl_tsan.sh builds one, and scripts/tsan.sh points absl_DIR at it.
if(THEANO_SERVING_SANITIZE_THREAD)
  if(THEANO_SERVING_SANITIZE)
    message(FATAL_ERROR "THEANO_SERVING_SANITIZE_THREAD and THEANO_SERVING_SANITIZE exclude each other")
  endif()
  target_compile_options(theano_serving_warnings INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(theano_serving_warnings INTERFACE -fsanitize=thread)
endif()
