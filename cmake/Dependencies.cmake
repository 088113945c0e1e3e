# Locates every third-party dependency from Debian's packages (see scripts/install-deps).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
if(PODPROXY_STATIC_OPENSSL)
  set(OPENSSL_USE_STATIC_LIBS TRUE)  # FindOpenSSL then picks libssl.a and libcrypto.a
  set(podproxy_other_openssl "\\.so")
else()
  set(podproxy_other_openssl "\\.a$")
endif()
# A build directory configured with the other choice keeps its libraries cached otherwise.
foreach(v OPENSSL_SSL_LIBRARY OPENSSL_CRYPTO_LIBRARY)
  if("${${v}}" MATCHES "${podproxy_other_openssl}")
    unset(${v} CACHE)
  endif()
endforeach()
find_package(OpenSSL 3 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(prometheus-cpp REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)

# Debian's node-llhttp ships llhttp's generated C sources, not a library: build them here.
set(LLHTTP_SOURCE_DIR "/usr/share/llhttp" CACHE PATH "Directory holding llhttp's C sources")
set(LLHTTP_INCLUDE_DIR "/usr/share/include/llhttp" CACHE PATH "Directory holding llhttp.h")
foreach(f llhttp.c api.c http.c)
  if(NOT EXISTS "${LLHTTP_SOURCE_DIR}/${f}")
    message(FATAL_ERROR "llhttp source ${LLHTTP_SOURCE_DIR}/${f} not found: install node-llhttp")
  endif()
endforeach()
add_library(llhttp STATIC
  ${LLHTTP_SOURCE_DIR}/llhttp.c ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)
target_compile_options(llhttp PRIVATE -w)

# Packed relative relocations (DT_RELR, glibc 2.36): the relocation table of a PIE holding
# static OpenSSL shrinks from ~0.4 MiB, read at every start, to a few KiB.
include(CheckLinkerFlag)
check_linker_flag(CXX "-Wl,-z,pack-relative-relocs" PODPROXY_HAVE_PACKED_RELOCS)
if(PODPROXY_HAVE_PACKED_RELOCS)
  add_link_options(-Wl,-z,pack-relative-relocs)
endif()
