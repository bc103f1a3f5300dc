// Package sfemu is a Salesforce emulator: the OAuth token endpoint, REST
// (describe, SOQL query/queryAll, single-record CRUD, sObject Collections)
// and Bulk API 2.0 on one address, following
// shared/reference/salesforce-api.md, with switches to inject faults.
package sfemu
