# Warnings applied to the project's own targets (never to consumers of the installed SDK).
function(alter_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Woverloaded-virtual -Wimplicit-fallthrough
    # g++ 12 warns on designated initializers that leave members at their defaults, which is
    # exactly how options are meant to be used.
    -Wno-missing-field-initializers
    # g++ 12 at -O3 reports impossible overlaps in std::string concatenation (GCC bug 105329).
    $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>
    $<$<BOOL:${ALTER_WERROR}>:-Werror>)
endfunction()

# Test code is compiled at -O1 in optimized builds: the code under test keeps the build type's
# optimization (-O3 in Release), while test files (gtest macros, large fixtures) compile several
# times faster. This keeps scripts/test.sh within CI's time on a 2-core machine.
function(alter_optimize_tests_lightly)
  foreach(target IN LISTS ARGN)
    if(TARGET ${target})
      target_compile_options(${target} PRIVATE $<$<NOT:$<CONFIG:Debug>>:-O1>)
    endif()
  endforeach()
endfunction()
