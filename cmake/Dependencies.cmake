# Every third-party dependency is looked up here, and only here. All of them are Debian 12 packages
# (see scripts/install_deps.sh).
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
# libzip through pkg-config: Debian's libzip CMake config references /usr/bin/zipcmp, which only the
# separate zipcmp package installs.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
# OpenCV: only core, imgproc and imgcodecs are needed. Debian ships OpenCVConfig.cmake only in the
# libopencv-dev meta package, which pulls in every OpenCV module, so the three are imported here.
find_path(TS_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
foreach(component core imgproc imgcodecs)
  find_library(TS_OPENCV_${component}_LIBRARY opencv_${component} REQUIRED)
  add_library(OpenCV::${component} UNKNOWN IMPORTED)
  set_target_properties(OpenCV::${component} PROPERTIES
    IMPORTED_LOCATION ${TS_OPENCV_${component}_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${TS_OPENCV_INCLUDE_DIR})
endforeach()
find_package(ZLIB REQUIRED)
if(THEANO_SERVING_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
