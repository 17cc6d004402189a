// token_introspection
