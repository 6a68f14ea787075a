# The library's layers (docs/architecture.md "Layers"): one static library per folder, each
# with its dependencies declared here and nowhere else. tools/check_layers.py reads the
# lmd_layer() calls below and fails on an #include that crosses a layer the wrong way or on a
# cycle; CI runs it (tools/run_tests.sh).
#
#   lmd_layer(<name> DIRS <folder>... [DEPS <layer>...] [HEADER_ONLY] [EXTRA <target>...])
#
# makes the target lmd_<name> from the .cc files directly in each folder (not their
# subfolders: a subfolder that is a layer of its own is listed as one), linked PUBLIC to
# lmd_<dep> for each DEPS and to the EXTRA (third-party) targets. HEADER_ONLY layers are
# INTERFACE libraries; DECLARE_ONLY layers are built by another file from LMD_<name>_DEPS.

set(LMD_LAYERS "")

function(lmd_layer name)
  cmake_parse_arguments(L "HEADER_ONLY;DECLARE_ONLY" "" "DIRS;DEPS;EXTRA" ${ARGN})
  set(target lmd_${name})
  if(L_DECLARE_ONLY)  # built elsewhere (cmake/cuda.cmake); the declared DEPS are what it links
    set(LMD_${name}_DEPS ${L_DEPS} PARENT_SCOPE)
    return()
  endif()
  if(L_HEADER_ONLY)
    add_library(${target} INTERFACE)
    set(scope INTERFACE)
  else()
    set(sources "")
    foreach(dir ${L_DIRS})
      file(GLOB dir_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cc)
      list(APPEND sources ${dir_sources})
    endforeach()
    add_library(${target} STATIC ${sources})
    set(scope PUBLIC)
  endif()
  target_include_directories(${target} ${scope} ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR})
  foreach(dep ${L_DEPS})
    target_link_libraries(${target} ${scope} lmd_${dep})
  endforeach()
  if(L_EXTRA)
    target_link_libraries(${target} ${scope} ${L_EXTRA})
  endif()
  set(LMD_LAYERS ${LMD_LAYERS} ${target} PARENT_SCOPE)
endfunction()

# ---- bottom: shared math and types, depending on nothing else of the project ----
lmd_layer(kernels_common HEADER_ONLY DIRS kernels/common)
lmd_layer(api HEADER_ONLY DIRS include/lmdeploy)
lmd_layer(core DIRS src/core DEPS kernels_common)

# ---- kernels: know nothing of the engine ----
lmd_layer(kernels_cpu DIRS kernels/cpu DEPS core kernels_common)
lmd_layer(kernels_cuda HEADER_ONLY DIRS kernels/cuda kernels/cuda/shim DEPS core kernels_common)

# ---- services every layer above may use ----
lmd_layer(common DIRS src/common DEPS core EXTRA spdlog::spdlog fmt::fmt ${CMAKE_DL_LIBS} Threads::Threads)

# ---- files and text ----
lmd_layer(format DIRS src/format DEPS common core EXTRA nlohmann_json::nlohmann_json PkgConfig::INIH)
lmd_layer(tokenizer DIRS src/tokenizer DEPS format common core
          EXTRA nlohmann_json::nlohmann_json PkgConfig::SENTENCEPIECE PkgConfig::PCRE2)
lmd_layer(template DIRS src/template src/template/jinja DEPS common core EXTRA nlohmann_json::nlohmann_json)

# ---- compute ----
lmd_layer(comm DIRS src/comm DEPS common core)
lmd_layer(backend DIRS src/backend src/backend/cpu DEPS kernels_cpu comm common core)
# The CUDA backend with the nvcc-built kernels: only with LMDEPLOY_CUDA (cmake/cuda.cmake).
lmd_layer(backend_cuda DECLARE_ONLY DIRS src/backend/cuda DEPS backend kernels_cuda comm common core)
lmd_layer(model DIRS src/model DEPS backend comm common core)
lmd_layer(kv DIRS src/kv DEPS common core)
lmd_layer(sampling DIRS src/sampling DEPS api common core)

# ---- the engine and what builds it ----
lmd_layer(engine DIRS src/engine DEPS model kv sampling template api common core)
lmd_layer(convert DIRS src/convert DEPS format common core)
lmd_layer(loader DIRS src/loader DEPS engine model convert backend tokenizer template format api common core
          EXTRA nlohmann_json::nlohmann_json)
lmd_layer(lite DIRS src/lite DEPS model backend convert format tokenizer common core
          EXTRA nlohmann_json::nlohmann_json)
lmd_layer(serve DIRS src/serve DEPS api template common core
          EXTRA nlohmann_json::nlohmann_json PkgConfig::HTTPLIB)
