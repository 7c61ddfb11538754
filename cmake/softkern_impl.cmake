# softkern_add_impl(<name> <source> <headers-target>)
#
# Builds the translation unit that expands softkern's kernels for every
# target. Used by the source tree and by the installed package config, so a
# consumer compiles it once, with the consumer's own flags (-march=native and
# friends included: the expansion does not depend on the static target).
function(softkern_add_impl name source headers)
  add_library(${name} STATIC ${source})
  target_link_libraries(${name} PUBLIC ${headers})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
