// interop
