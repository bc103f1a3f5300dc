// Command sluice-plugin-salesforce is the Salesforce connector as a plugin
// executable: REST and Bulk API 2.0 reads, sObject Collections and Bulk 2.0
// ingest writes. The connector itself is package sfconn (which tests and
// benchmarks run in-process); package sfemu is the emulator it is tested
// against and that `sluice dev salesforce` serves.
package main
