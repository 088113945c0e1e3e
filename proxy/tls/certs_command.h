#pragma once

// `podproxy certs`: writes a development CA and a workload certificate with a SPIFFE ID.

namespace podproxy::tls {

// `argv` holds the arguments after "certs". Returns the process exit code.
int runCertsCommand(int argc, char** argv);

}  // namespace podproxy::tls
