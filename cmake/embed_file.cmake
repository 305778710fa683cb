# embed_file.cmake — turns a text file into a C source defining
#   const char SYMBOL[] (the bytes, NUL-terminated) and const size_t SYMBOL_len,
# so a page such as cli/report_template.html stays a real file in the tree.
# Run at build time: cmake -DINPUT=f -DOUTPUT=f.c -DSYMBOL=name -P embed_file.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR n_bytes "${hex_len} / 2")
# 0xNN, per byte; lines of 16 bytes keep the generated file readable
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "/* generated from ${name} by cmake/embed_file.cmake: do not edit */\n"
  "#include <stddef.h>\n"
  "const char ${SYMBOL}[] = {\n${bytes}0x00};\n"
  "const size_t ${SYMBOL}_len = ${n_bytes};\n")
# replace only when changed: no rebuild of what depends on an identical file
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
