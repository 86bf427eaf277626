# Compiles through ccache when it is installed (scripts/install-deps installs it), so that a new clone
# or a second build tree reuses the objects an earlier build made from the same sources and flags.
# Its cache lives outside the work tree, in /var/cache/movie-platform/ccache when that is writable
# (root, as scripts/test runs), else in ccache's own default (~/.cache/ccache); $CCACHE_DIR wins over both.
# ccache keys each object by the compiler, its flags and the preprocessed source, so no version key is
# needed. Paths under the source tree are made relative (CCACHE_BASEDIR) and the build directory is not
# hashed (CCACHE_NOHASHDIR), so that clones in other directories hit the same entries; the one cost is
# that debug info may name the directory of the build that filled the entry. ccache also keys each object
# by the locale variables, so they are set to one value: the image build (scripts/build-images mounts this
# cache) runs without LANG, a shell here with LANG=C.UTF-8. MP_CCACHE=OFF compiles without it.
option(MP_CCACHE "Compile through ccache when it is installed" ON)
find_program(MP_CCACHE_PROGRAM ccache)
if(MP_CCACHE AND MP_CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  get_filename_component(mp_ccache_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  set(mp_ccache_env CCACHE_BASEDIR=${mp_ccache_root} CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=8G
      LANG=C.UTF-8 LC_ALL=C.UTF-8 LC_CTYPE=C.UTF-8 LC_MESSAGES=C.UTF-8)
  if(DEFINED ENV{CCACHE_DIR})
    list(APPEND mp_ccache_env CCACHE_DIR=$ENV{CCACHE_DIR})
  else()
    execute_process(COMMAND sh -c "mkdir -p /var/cache/movie-platform/ccache 2>/dev/null && test -w /var/cache/movie-platform/ccache"
                    RESULT_VARIABLE mp_ccache_dir_status)
    if(mp_ccache_dir_status EQUAL 0)
      list(APPEND mp_ccache_env CCACHE_DIR=/var/cache/movie-platform/ccache)
    endif()
  endif()
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env ${mp_ccache_env} ${MP_CCACHE_PROGRAM})
  message(STATUS "ccache: ${MP_CCACHE_PROGRAM} (${mp_ccache_env})")
endif()
