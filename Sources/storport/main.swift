import StorportCLI

#if canImport(Glibc)
  import Glibc
#endif

exit(StorportCommand.main(arguments: Array(CommandLine.arguments.dropFirst())))
