# Writes a C++ source that defines `const char SYMBOL[]` in namespace modelgrid with the
# text of INPUT, so that files such as the Python backend's .py modules are compiled into
# the executable that needs them. Run as:
#   cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -P embed_text.cmake
file(READ "${INPUT}" text)
string(FIND "${text}" ")mg_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )mg_embed\"")
endif()
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
     "// Generated from ${name} by cmake/embed_text.cmake; do not edit.\n"
     "namespace modelgrid {\n"
     "extern const char ${SYMBOL}[];\n"
     "const char ${SYMBOL}[] = R\"mg_embed(${text})mg_embed\";\n"
     "}  // namespace modelgrid\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
