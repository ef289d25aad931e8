# Turns trace.sql into a C header holding it as one string: cmake -DIN=trace.sql -DOUT=trace_sql.h -P embed_sql.cmake
file(READ ${IN} sql)
string(REPLACE "\\" "\\\\" sql "${sql}")
string(REPLACE "\"" "\\\"" sql "${sql}")
string(REPLACE "\t" "\\t" sql "${sql}")
string(REPLACE "\n" "\\n\"\n\t\"" sql "${sql}")
file(WRITE ${OUT}.tmp "/* Generated from schema/trace.sql at build time; edit that file. */\nstatic const char trace_sql[] =\n\t\"${sql}\";\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
