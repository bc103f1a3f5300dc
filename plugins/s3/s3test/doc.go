// Package s3test runs a real S3-protocol server for the S3 connector's
// tests: versitygw (Apache-2.0, github.com/versity/versitygw) with its
// posix backend on a temporary directory, listening on 127.0.0.1 on a free
// port, with static root credentials.
//
// The binary is built from the Go module proxy on first use (about a
// minute) into the user cache directory, sluice/versitygw-<version>/, and
// reused by later runs; SLUICE_VERSITYGW names a prebuilt binary instead.
// A test package calls [Main] from its TestMain, which starts one server
// for the whole package and stops it at the end, and each test calls
// [Get]. When the server cannot be built or started, tests skip with the
// reason, except under CI=true, where the package fails with the build
// output.
package s3test
