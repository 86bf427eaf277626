# Writes a C++ source defining mp::gateway::kOpenApiDocument with the contents of INPUT.
file(READ ${INPUT} document)
string(FIND "${document}" ")openapi\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )openapi\"")
endif()
file(WRITE ${OUTPUT} "#include \"gateway/gateway_app.h\"\nnamespace mp::gateway {\nconst char* const kOpenApiDocument = R\"openapi(${document})openapi\";\n}\n")
