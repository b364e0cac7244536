# gRPC and Protobuf, for proto/ (the generated code), server/ and client/. core/ never links these.
#
# Provides: protobuf::libprotobuf, protobuf::protoc (FindProtobuf), gRPC::grpc++,
# gRPC::grpc++_reflection, and TS_PROTOC / TS_GRPC_CPP_PLUGIN (the two code generators).
#
# Debian 12: libgrpc-dev's gRPCConfig.cmake imports grpc_cpp_plugin *and* the php/python/ruby
# plugins, and stops with FATAL_ERROR if any of those binaries is missing (they come from
# protobuf-compiler-grpc). So the config package is only used when every binary it references
# exists; otherwise gRPC is imported through pkg-config (grpc++) with the same target names.
find_package(Protobuf 3.12 REQUIRED)
set(TS_PROTOC ${Protobuf_PROTOC_EXECUTABLE})
if(NOT TS_PROTOC)
  message(FATAL_ERROR "protoc not found; install protobuf-compiler")
endif()

find_program(TS_GRPC_CPP_PLUGIN grpc_cpp_plugin)
if(NOT TS_GRPC_CPP_PLUGIN)
  message(FATAL_ERROR "grpc_cpp_plugin not found; install protobuf-compiler-grpc")
endif()

get_filename_component(_ts_grpc_bin_dir ${TS_GRPC_CPP_PLUGIN} DIRECTORY)
set(_ts_grpc_config_usable TRUE)
foreach(_ts_plugin grpc_php_plugin grpc_python_plugin grpc_ruby_plugin)
  if(NOT EXISTS ${_ts_grpc_bin_dir}/${_ts_plugin})
    set(_ts_grpc_config_usable FALSE)
  endif()
endforeach()
if(_ts_grpc_config_usable)
  find_package(gRPC CONFIG QUIET)
endif()

if(NOT TARGET gRPC::grpc++)
  message(STATUS "gRPC: using pkg-config grpc++ (gRPCConfig.cmake unusable or absent)")
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(TS_GRPCPP REQUIRED IMPORTED_TARGET grpc++)
  add_library(gRPC::grpc++ INTERFACE IMPORTED)
  target_link_libraries(gRPC::grpc++ INTERFACE PkgConfig::TS_GRPCPP)
  find_library(TS_GRPCPP_REFLECTION_LIBRARY grpc++_reflection REQUIRED)
  add_library(gRPC::grpc++_reflection UNKNOWN IMPORTED)
  set_target_properties(gRPC::grpc++_reflection PROPERTIES
    IMPORTED_LOCATION ${TS_GRPCPP_REFLECTION_LIBRARY}
    INTERFACE_LINK_LIBRARIES gRPC::grpc++)
else()
  message(STATUS "gRPC: ${gRPC_VERSION} (CMake config)")
endif()
unset(_ts_grpc_bin_dir)
unset(_ts_grpc_config_usable)

# Prometheus metrics (prometheus-cpp-dev): prometheus-cpp::pull serves GET /metrics.
find_package(prometheus-cpp CONFIG REQUIRED)
