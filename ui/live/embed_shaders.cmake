# Writes OUT: a header with each GLSL file of the shaders/ folder given in
# FILES (a ;-list) as a string constant named kShader_<file name with _ for .>,
# so sims-live needs no shader files at run time.
set(text "// Generated from shaders/ by ui/live/embed_shaders.cmake: do not edit.\n#pragma once\n")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  string(REPLACE "." "_" id ${name})
  file(READ ${f} body)
  string(APPEND text "static const char* const kShader_${id} = R\"GLSL(${body})GLSL\";\n")
endforeach()
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
