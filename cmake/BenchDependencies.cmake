# Dependencies of bench/ only (THEANO_SERVING_BUILD_BENCHMARKS=ON), all Debian 12 packages (see
# scripts/install_deps.sh): Google Benchmark, and the peers issue 3 compares against — oneDNN
# (libdnnl-dev), OpenCV DNN (libopencv-dnn-dev) and OpenBLAS (libopenblas-dev).
find_package(benchmark REQUIRED)
# OpenMP: the FMA peak loop, and the thread count of oneDNN's OpenMP runtime.
find_package(OpenMP REQUIRED)
# oneDNN: imported directly. Debian's dnnl-config.cmake (built with the OpenCL GPU runtime) insists
# on the OpenCL headers and ICD loader dev packages, which the CPU engine used here does not need.
find_path(TS_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp REQUIRED)
find_library(TS_DNNL_LIBRARY dnnl REQUIRED)
add_library(DNNL::dnnl UNKNOWN IMPORTED)
set_target_properties(DNNL::dnnl PROPERTIES
  IMPORTED_LOCATION ${TS_DNNL_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${TS_DNNL_INCLUDE_DIR})
find_package(PkgConfig REQUIRED)
pkg_check_modules(TS_OPENBLAS REQUIRED IMPORTED_TARGET openblas)
# OpenCV DNN, imported like the three modules of Dependencies.cmake (Debian ships OpenCVConfig.cmake
# only in the libopencv-dev meta package).
find_library(TS_OPENCV_dnn_LIBRARY opencv_dnn REQUIRED)
add_library(OpenCV::dnn UNKNOWN IMPORTED)
set_target_properties(OpenCV::dnn PROPERTIES
  IMPORTED_LOCATION ${TS_OPENCV_dnn_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${TS_OPENCV_INCLUDE_DIR}
  INTERFACE_LINK_LIBRARIES OpenCV::core)
