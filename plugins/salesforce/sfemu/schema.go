package sfemu

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Field is one field of an sObject as describe reports it.
type Field struct {
	Name              string   `json:"name"`
	Label             string   `json:"label,omitempty"`
	Type              string   `json:"type"`
	Length            int      `json:"length,omitempty"`
	Precision         int      `json:"precision,omitempty"`
	Scale             int      `json:"scale,omitempty"`
	Nillable          *bool    `json:"nillable,omitempty"`
	Createable        *bool    `json:"createable,omitempty"`
	Updateable        *bool    `json:"updateable,omitempty"`
	DefaultedOnCreate bool     `json:"defaultedOnCreate,omitempty"`
	Unique            bool     `json:"unique,omitempty"`
	ExternalID        bool     `json:"externalId,omitempty"`
	IDLookup          bool     `json:"idLookup,omitempty"`
	NameField         bool     `json:"nameField,omitempty"`
	AutoNumber        bool     `json:"autoNumber,omitempty"`
	Calculated        bool     `json:"calculated,omitempty"`
	ReferenceTo       []string `json:"referenceTo,omitempty"`
	RelationshipName  string   `json:"relationshipName,omitempty"`
	PicklistValues    []string `json:"picklistValues,omitempty"`
	CompoundFieldName string   `json:"compoundFieldName,omitempty"`
	DefaultValue      any      `json:"defaultValue,omitempty"`
	// Required makes a custom field non-nillable (REQUIRED_FIELD_MISSING on
	// create when absent); seed files use it instead of nillable.
	Required bool `json:"required,omitempty"`

	custom   bool
	nillable bool
	create   bool
	update   bool
	idx      int
}

// ObjectDef declares a custom object in a seed file.
type ObjectDef struct {
	Name        string  `json:"name"`
	Label       string  `json:"label,omitempty"`
	LabelPlural string  `json:"labelPlural,omitempty"`
	KeyPrefix   string  `json:"keyPrefix,omitempty"`
	Fields      []Field `json:"fields"`
	// Records are inserted on start (when the store has none of this object),
	// after the generated ones.
	Records []map[string]any `json:"records,omitempty"`
	// Generate seeds this many generated records (default: Options.Records).
	Generate *int `json:"generate,omitempty"`
}

// SeedFile is the JSON document Options.SeedFile names.
type SeedFile struct {
	Objects []ObjectDef `json:"objects"`
}

// sobject is the schema of one object.
type sobject struct {
	name, label, plural, prefix string
	custom                      bool
	fields                      []*Field
	byName                      map[string]*Field // lower-case name → field
	byRel                       map[string]*Field // lower-case relationship name → reference field
	nameField                   *Field
	seedRecords                 []map[string]any
	generate                    int
	// indexes of the system fields every object has
	iID, iDeleted, iCreated, iCreatedBy, iModified, iModifiedBy, iStamp, iOwner int
}

func (o *sobject) field(name string) *Field { return o.byName[strings.ToLower(name)] }

func bp(b bool) *bool { return &b }

type fopt func(*Field)

func req(f *Field)      { f.nillable = false }
func readonly(f *Field) { f.create, f.update = false, false }
func defaulted(f *Field) {
	f.DefaultedOnCreate = true
}
func nameF(f *Field)    { f.NameField, f.IDLookup = true, true }
func length(n int) fopt { return func(f *Field) { f.Length = n } }
func ref(to ...string) fopt {
	return func(f *Field) { f.ReferenceTo = to }
}
func rel(name string) fopt   { return func(f *Field) { f.RelationshipName = name } }
func pick(v ...string) fopt  { return func(f *Field) { f.PicklistValues = v } }
func compound(c string) fopt { return func(f *Field) { f.CompoundFieldName = c } }
func label(l string) fopt    { return func(f *Field) { f.Label = l } }
func num(p, s int) fopt      { return func(f *Field) { f.Precision, f.Scale = p, s } }

func fld(name, typ string, opts ...fopt) *Field {
	f := &Field{Name: name, Type: typ, nillable: true, create: true, update: true}
	switch typ {
	case "string", "email", "phone", "url", "picklist", "combobox", "encryptedstring":
		f.Length = 255
		if typ == "phone" {
			f.Length = 40
		}
		if typ == "picklist" || typ == "combobox" {
			f.Length = 255
		}
	case "textarea":
		f.Length = 32000
	case "multipicklist":
		f.Length = 4099
	case "id", "reference":
		f.Length = 18
	case "currency":
		f.Precision, f.Scale = 18, 2
	case "double":
		f.Precision, f.Scale = 18, 0
	case "percent":
		f.Precision, f.Scale = 3, 0
	case "int":
		f.Precision = 9
	case "long":
		f.Precision = 18
	}
	for _, o := range opts {
		o(f)
	}
	if f.Label == "" {
		f.Label = defaultLabel(name)
	}
	return f
}

// defaultLabel turns an API name into a label: "BillingCity" → "Billing City".
func defaultLabel(name string) string {
	name = strings.TrimSuffix(name, "__c")
	name = strings.ReplaceAll(name, "_", " ")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' && name[i-1] >= 'a' && name[i-1] <= 'z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	l := b.String()
	if strings.HasSuffix(l, " Id") && len(l) > 3 {
		l = strings.TrimSuffix(l, " Id") + " ID"
	}
	return l
}

func addressFields(prefix, compoundName string) []*Field {
	c := compound(compoundName)
	return []*Field{
		fld(prefix+"Street", "textarea", c, length(255)),
		fld(prefix+"City", "string", c, length(40)),
		fld(prefix+"State", "string", c, length(80)),
		fld(prefix+"PostalCode", "string", c, length(20)),
		fld(prefix+"Country", "string", c, length(80)),
		fld(prefix+"Latitude", "double", c, num(18, 15)),
		fld(prefix+"Longitude", "double", c, num(18, 15)),
		fld(prefix+"GeocodeAccuracy", "picklist", c, length(40), pick("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "Neighborhood", "City", "County", "State", "Unknown")),
		fld(compoundName, "address", readonly),
	}
}

var (
	industries  = []string{"Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation", "Utilities", "Other"}
	leadSources = []string{"Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"}
	stages      = []string{"Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}
	leadStatus  = []string{"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"}
	caseStatus  = []string{"New", "Working", "Escalated", "Closed"}
	casePrio    = []string{"High", "Medium", "Low"}
	caseOrigin  = []string{"Phone", "Email", "Web"}
	acctTypes   = []string{"Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller", "Installation Partner", "Technology Partner", "Other"}
)

func standardObjects() []*sobject {
	owner := func() *Field {
		return fld("OwnerId", "reference", ref("User"), rel("Owner"), defaulted, label("Owner ID"))
	}
	account := []*Field{
		fld("Name", "string", req, nameF, label("Account Name")),
		fld("Type", "picklist", label("Account Type"), pick(acctTypes...)),
		fld("ParentId", "reference", ref("Account"), rel("Parent"), label("Parent Account ID")),
	}
	account = append(account, addressFields("Billing", "BillingAddress")...)
	account = append(account, addressFields("Shipping", "ShippingAddress")...)
	account = append(account,
		fld("Phone", "phone", label("Account Phone")),
		fld("Fax", "phone", label("Account Fax")),
		fld("AccountNumber", "string", length(40)),
		fld("Website", "url"),
		fld("Industry", "picklist", pick(industries...)),
		fld("AnnualRevenue", "currency"),
		fld("NumberOfEmployees", "int", label("Employees"), num(8, 0)),
		fld("Description", "textarea", label("Account Description")),
		fld("Rating", "picklist", label("Account Rating"), pick("Hot", "Warm", "Cold")),
		owner(),
	)

	contact := []*Field{
		fld("AccountId", "reference", ref("Account"), rel("Account")),
		fld("LastName", "string", req, length(80), compound("Name")),
		fld("FirstName", "string", length(40), compound("Name")),
		fld("Salutation", "picklist", length(40), compound("Name"), pick("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
		fld("Name", "string", readonly, nameF, length(121), label("Full Name")),
	}
	contact = append(contact, addressFields("Mailing", "MailingAddress")...)
	contact = append(contact,
		fld("Phone", "phone", label("Business Phone")),
		fld("MobilePhone", "phone", label("Mobile Phone")),
		fld("Email", "email", func(f *Field) { f.IDLookup = true }),
		fld("Title", "string", length(128)),
		fld("Department", "string", length(80)),
		fld("LeadSource", "picklist", pick(leadSources...)),
		fld("Birthdate", "date"),
		fld("Description", "textarea", label("Contact Description")),
		fld("HasOptedOutOfEmail", "boolean", defaulted, label("Email Opt Out")),
		owner(),
	)

	lead := []*Field{
		fld("LastName", "string", req, length(80), compound("Name")),
		fld("FirstName", "string", length(40), compound("Name")),
		fld("Salutation", "picklist", length(40), compound("Name"), pick("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
		fld("Name", "string", readonly, nameF, length(121), label("Full Name")),
		fld("Title", "string", length(128)),
		fld("Company", "string", req),
	}
	lead = append(lead, addressFields("", "Address")...)
	lead = append(lead,
		fld("Phone", "phone"),
		fld("MobilePhone", "phone"),
		fld("Email", "email", func(f *Field) { f.IDLookup = true }),
		fld("Website", "url"),
		fld("Description", "textarea"),
		fld("LeadSource", "picklist", pick(leadSources...)),
		fld("Status", "picklist", req, defaulted, label("Lead Status"), pick(leadStatus...), func(f *Field) { f.DefaultValue = leadStatus[0] }),
		fld("Industry", "picklist", pick(industries...)),
		fld("Rating", "picklist", pick("Hot", "Warm", "Cold")),
		fld("AnnualRevenue", "currency"),
		fld("NumberOfEmployees", "int", num(8, 0)),
		fld("IsConverted", "boolean", defaulted, readonly, label("Converted")),
		owner(),
	)

	opp := []*Field{
		fld("AccountId", "reference", ref("Account"), rel("Account")),
		fld("Name", "string", req, nameF, length(120)),
		fld("Description", "textarea"),
		fld("StageName", "picklist", req, label("Stage"), pick(stages...)),
		fld("Amount", "currency"),
		fld("Probability", "percent", label("Probability (%)")),
		fld("CloseDate", "date", req),
		fld("Type", "picklist", label("Opportunity Type"), pick("Existing Customer - Upgrade", "Existing Customer - Replacement", "Existing Customer - Downgrade", "New Customer")),
		fld("NextStep", "string"),
		fld("LeadSource", "picklist", pick(leadSources...)),
		fld("IsClosed", "boolean", defaulted, readonly, label("Closed")),
		fld("IsWon", "boolean", defaulted, readonly, label("Won")),
		fld("ForecastCategoryName", "picklist", label("Forecast Category"), pick("Omitted", "Pipeline", "Best Case", "Commit", "Closed")),
		owner(),
	}

	cas := []*Field{
		fld("CaseNumber", "string", readonly, nameF, defaulted, length(30), func(f *Field) { f.AutoNumber = true; f.nillable = false }),
		fld("ContactId", "reference", ref("Contact"), rel("Contact")),
		fld("AccountId", "reference", ref("Account"), rel("Account")),
		fld("SuppliedName", "string", length(80), label("Web Name")),
		fld("SuppliedEmail", "email", label("Web Email")),
		fld("Type", "picklist", label("Case Type"), pick("Mechanical", "Electrical", "Electronic", "Structural", "Other")),
		fld("Status", "picklist", defaulted, pick(caseStatus...), func(f *Field) { f.DefaultValue = "New" }),
		fld("Reason", "picklist", label("Case Reason"), pick("Installation", "Equipment Complexity", "Performance", "Breakdown", "Equipment Design", "Feedback", "Other")),
		fld("Origin", "picklist", label("Case Origin"), pick(caseOrigin...)),
		fld("Subject", "string"),
		fld("Priority", "picklist", defaulted, pick(casePrio...), func(f *Field) { f.DefaultValue = "Medium" }),
		fld("Description", "textarea"),
		fld("IsClosed", "boolean", defaulted, readonly, label("Closed")),
		fld("ClosedDate", "datetime", readonly, label("Closed Date")),
		fld("IsEscalated", "boolean", defaulted, label("Escalated")),
		owner(),
	}

	user := []*Field{
		fld("Username", "string", req, length(80), func(f *Field) { f.Unique, f.IDLookup = true, true }),
		fld("LastName", "string", req, length(80), compound("Name")),
		fld("FirstName", "string", length(40), compound("Name")),
		fld("Name", "string", readonly, nameF, length(121), label("Full Name")),
		fld("CompanyName", "string", length(80)),
		fld("Division", "string", length(80)),
		fld("Department", "string", length(80)),
		fld("Title", "string", length(80)),
	}
	user = append(user, addressFields("", "Address")...)
	user = append(user,
		fld("Email", "email", req, length(128)),
		fld("Phone", "phone"),
		fld("MobilePhone", "phone"),
		fld("Alias", "string", req, length(8)),
		fld("CommunityNickname", "string", length(40), defaulted, label("Nickname")),
		fld("IsActive", "boolean", defaulted, label("Active")),
		fld("TimeZoneSidKey", "picklist", req, label("Time Zone"), pick("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris", "Asia/Tokyo", "Australia/Sydney")),
		fld("LocaleSidKey", "picklist", req, label("Locale"), pick("en_US", "en_GB", "fr_FR", "de_DE", "ja_JP")),
		fld("EmailEncodingKey", "picklist", req, label("Email Encoding"), pick("UTF-8", "ISO-8859-1")),
		fld("LanguageLocaleKey", "picklist", req, label("Language"), pick("en_US", "fr", "de", "ja")),
		fld("ProfileId", "reference", req, ref("Profile"), rel("Profile"), label("Profile ID")),
		fld("UserType", "picklist", readonly, defaulted, pick("Standard", "PowerPartner", "CsnOnly")),
		fld("ManagerId", "reference", ref("User"), rel("Manager")),
		fld("LastLoginDate", "datetime", readonly),
	)

	return []*sobject{
		newObject("Account", "Account", "Accounts", "001", false, account),
		newObject("Contact", "Contact", "Contacts", "003", false, contact),
		newObject("Lead", "Lead", "Leads", "00Q", false, lead),
		newObject("Opportunity", "Opportunity", "Opportunities", "006", false, opp),
		newObject("Case", "Case", "Cases", "500", false, cas),
		newObject("User", "User", "Users", "005", false, user),
	}
}

// newObject adds the system fields and indexes the schema.
func newObject(name, lbl, plural, prefix string, custom bool, fields []*Field) *sobject {
	o := &sobject{name: name, label: lbl, plural: plural, prefix: prefix, custom: custom,
		byName: map[string]*Field{}, byRel: map[string]*Field{}}
	id := fld("Id", "id", readonly, label(lbl+" ID"), func(f *Field) { f.nillable = false; f.DefaultedOnCreate = true; f.IDLookup = true })
	all := []*Field{id, fld("IsDeleted", "boolean", readonly, defaulted, label("Deleted"), func(f *Field) { f.nillable = false })}
	all = append(all, fields...)
	all = append(all,
		fld("CreatedDate", "datetime", readonly, defaulted, func(f *Field) { f.nillable = false }),
		fld("CreatedById", "reference", readonly, defaulted, ref("User"), rel("CreatedBy"), label("Created By ID"), func(f *Field) { f.nillable = false }),
		fld("LastModifiedDate", "datetime", readonly, defaulted, func(f *Field) { f.nillable = false }),
		fld("LastModifiedById", "reference", readonly, defaulted, ref("User"), rel("LastModifiedBy"), label("Last Modified By ID"), func(f *Field) { f.nillable = false }),
		fld("SystemModstamp", "datetime", readonly, defaulted, label("System Modstamp"), func(f *Field) { f.nillable = false }),
	)
	o.iOwner = -1
	for i, f := range all {
		o.register(f, i)
	}
	o.fields = all
	return o
}

// register settles f's defaults and flags and indexes it at position i.
func (o *sobject) register(f *Field, i int) {
	f.idx = i
	if f.Type == "boolean" {
		f.nillable = false
		if !f.DefaultedOnCreate && f.create {
			f.DefaultedOnCreate = true
		}
		if f.DefaultValue == nil {
			f.DefaultValue = f.Name == "IsActive"
		}
	}
	if f.Nillable == nil {
		f.Nillable = bp(f.nillable)
	}
	if f.Createable == nil {
		f.Createable = bp(f.create)
	}
	if f.Updateable == nil {
		f.Updateable = bp(f.update)
	}
	f.nillable, f.create, f.update = *f.Nillable, *f.Createable, *f.Updateable
	o.byName[strings.ToLower(f.Name)] = f
	if f.RelationshipName != "" {
		o.byRel[strings.ToLower(f.RelationshipName)] = f
	}
	if f.NameField {
		o.nameField = f
	}
	switch f.Name {
	case "Id":
		o.iID = i
	case "IsDeleted":
		o.iDeleted = i
	case "CreatedDate":
		o.iCreated = i
	case "CreatedById":
		o.iCreatedBy = i
	case "LastModifiedDate":
		o.iModified = i
	case "LastModifiedById":
		o.iModifiedBy = i
	case "SystemModstamp":
		o.iStamp = i
	case "OwnerId":
		o.iOwner = i
	}
}

// customObject builds the schema of a seed-file object.
func customObject(d ObjectDef, prefix string) (*sobject, error) {
	if !strings.HasSuffix(d.Name, "__c") {
		return nil, fmt.Errorf("custom object %q: the name must end in __c", d.Name)
	}
	if d.KeyPrefix != "" {
		prefix = d.KeyPrefix
	}
	if len(prefix) != 3 {
		return nil, fmt.Errorf("custom object %q: keyPrefix must be three characters", d.Name)
	}
	lbl := d.Label
	if lbl == "" {
		lbl = defaultLabel(d.Name)
	}
	plural := d.LabelPlural
	if plural == "" {
		plural = lbl + "s"
	}
	fields := []*Field{fld("Name", "string", nameF, length(80), label(lbl+" Name"))}
	for i := range d.Fields {
		f := d.Fields[i]
		if strings.EqualFold(f.Name, "Name") {
			fields[0].Type = f.Type
			if f.AutoNumber {
				fields[0].AutoNumber = true
				fields[0].create, fields[0].update = false, false
			}
			continue
		}
		nf, err := customField(f)
		if err != nil {
			return nil, fmt.Errorf("custom object %q: %w", d.Name, err)
		}
		fields = append(fields, nf)
	}
	fields = append(fields, fld("OwnerId", "reference", ref("User"), rel("Owner"), defaulted, label("Owner ID")))
	o := newObject(d.Name, lbl, plural, prefix, true, fields)
	o.seedRecords = d.Records
	o.generate = -1
	if d.Generate != nil {
		o.generate = *d.Generate
	}
	return o, nil
}

// customField builds a custom field from its declaration (seed files,
// AddField).
func customField(f Field) (*Field, error) {
	if f.Type == "" {
		f.Type = "string"
	}
	if !strings.HasSuffix(f.Name, "__c") {
		return nil, fmt.Errorf("custom field %q must end in __c", f.Name)
	}
	nf := fld(f.Name, f.Type)
	nf.Label = f.Label
	if nf.Label == "" {
		nf.Label = defaultLabel(f.Name)
	}
	if f.Length > 0 {
		nf.Length = f.Length
	}
	if f.Precision > 0 {
		nf.Precision, nf.Scale = f.Precision, f.Scale
	}
	nf.nillable = !f.Required && (f.Nillable == nil || *f.Nillable)
	nf.ExternalID, nf.Unique = f.ExternalID, f.Unique || f.ExternalID
	nf.IDLookup = f.ExternalID || f.IDLookup
	nf.ReferenceTo, nf.RelationshipName = f.ReferenceTo, f.RelationshipName
	if nf.Type == "reference" && nf.RelationshipName == "" {
		nf.RelationshipName = strings.TrimSuffix(f.Name, "__c") + "__r"
	}
	nf.PicklistValues, nf.DefaultValue = f.PicklistValues, f.DefaultValue
	nf.DefaultedOnCreate = f.DefaultValue != nil
	nf.custom = true
	return nf, nil
}

// loadSeedFile reads the custom objects of a seed file.
func loadSeedFile(path string) ([]*sobject, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sf SeedFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	var out []*sobject
	for i, d := range sf.Objects {
		o, err := customObject(d, fmt.Sprintf("a%02d", i))
		if err != nil {
			return nil, fmt.Errorf("seed file %s: %w", path, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// ---- describe ----

var soapTypes = map[string]string{
	"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "double": "xsd:double", "currency": "xsd:double",
	"percent": "xsd:double", "int": "xsd:int", "long": "xsd:long", "date": "xsd:date", "datetime": "xsd:dateTime",
	"time": "xsd:time", "base64": "xsd:base64Binary", "anyType": "xsd:anyType", "address": "urn:address",
	"location": "urn:location",
}

func (f *Field) describe(o *sobject) map[string]any {
	soap := soapTypes[f.Type]
	if soap == "" {
		soap = "xsd:string"
	}
	isText := soap == "xsd:string"
	byteLen := 0
	if isText || f.Type == "id" || f.Type == "reference" {
		byteLen = f.Length * 3
	}
	digits := 0
	if f.Type == "int" {
		digits = f.Precision
	}
	prec, scale := 0, 0
	if f.Type == "double" || f.Type == "currency" || f.Type == "percent" {
		prec, scale = f.Precision, f.Scale
	}
	length := 0
	if isText || f.Type == "id" || f.Type == "reference" {
		length = f.Length
	}
	pl := []any{}
	for _, v := range f.PicklistValues {
		pl = append(pl, map[string]any{"active": true, "defaultValue": f.DefaultValue == v, "label": v, "validFor": nil, "value": v})
	}
	refTo := f.ReferenceTo
	if refTo == nil {
		refTo = []string{}
	}
	var relName any
	if f.RelationshipName != "" {
		relName = f.RelationshipName
	}
	var compoundName any
	if f.CompoundFieldName != "" {
		compoundName = f.CompoundFieldName
	}
	var extra any
	switch {
	case f.Type == "textarea" && f.Length <= 255:
		extra = "plaintextarea"
	case f.Type == "textarea":
		extra = "plaintextarea"
	case f.Type == "address" || strings.HasSuffix(f.Name, "Latitude") || strings.HasSuffix(f.Name, "Longitude"):
		extra = nil
	}
	var defVal any
	if f.DefaultValue != nil && f.Type == "boolean" {
		defVal = f.DefaultValue
	}
	filterable := f.Type != "textarea" || f.Length <= 255
	if f.Type == "address" || f.Type == "location" {
		filterable = false
	}
	sortable := filterable && f.Type != "multipicklist"
	return map[string]any{
		"aggregatable": sortable, "aiPredictionField": false, "autoNumber": f.AutoNumber, "byteLength": byteLen,
		"calculated": f.Calculated, "calculatedFormula": nil, "cascadeDelete": false, "caseSensitive": false,
		"compoundFieldName": compoundName, "controllerName": nil, "createable": f.create, "custom": f.custom,
		"defaultValue": defVal, "defaultValueFormula": nil, "defaultedOnCreate": f.DefaultedOnCreate,
		"dependentPicklist": false, "deprecatedAndHidden": false, "digits": digits, "displayLocationInDecimal": false,
		"encrypted": false, "externalId": f.ExternalID, "extraTypeInfo": extra, "filterable": filterable,
		"filteredLookupInfo": nil, "formulaTreatNullNumberAsZero": false, "groupable": sortable && f.Type != "double" && f.Type != "currency" && f.Type != "percent" && f.Type != "datetime",
		"highScaleNumber": false, "htmlFormatted": false, "idLookup": f.IDLookup, "inlineHelpText": nil,
		"label": f.Label, "length": length, "mask": nil, "maskType": nil, "name": f.Name, "nameField": f.NameField,
		"namePointing": len(f.ReferenceTo) > 1, "nillable": f.nillable, "permissionable": f.nillable && !f.NameField && f.Type != "id",
		"picklistValues": pl, "polymorphicForeignKey": len(f.ReferenceTo) > 1, "precision": prec,
		"queryByDistance": false, "referenceTargetField": nil, "referenceTo": refTo, "relationshipName": relName,
		"relationshipOrder": nil, "restrictedDelete": false, "restrictedPicklist": false, "scale": scale,
		"searchPrefilterable": false, "soapType": soap, "sortable": sortable, "type": f.Type, "unique": f.Unique,
		"updateable": f.update, "writeRequiresMasterRead": false,
	}
}

func (o *sobject) urls(v string) map[string]string {
	base := "/services/data/v" + v + "/sobjects/" + o.name
	return map[string]string{
		"compactLayouts": base + "/describe/compactLayouts", "rowTemplate": base + "/{ID}",
		"approvalLayouts": base + "/describe/approvalLayouts", "describe": base + "/describe",
		"quickActions": base + "/quickActions", "layouts": base + "/describe/layouts", "sobject": base,
	}
}

func (o *sobject) globalEntry(v string) map[string]any {
	return map[string]any{
		"activateable": false, "associateEntityType": nil, "associateParentEntity": nil, "createable": true,
		"custom": o.custom, "customSetting": false, "deepCloneable": false, "deletable": true, "deprecatedAndHidden": false,
		"feedEnabled": !o.custom, "hasSubtypes": false, "isInterface": false, "isSubtype": false, "keyPrefix": o.prefix,
		"label": o.label, "labelPlural": o.plural, "layoutable": true, "mergeable": o.name == "Account" || o.name == "Contact" || o.name == "Lead",
		"mruEnabled": true, "name": o.name, "queryable": true, "replicateable": true, "retrieveable": true,
		"searchable": true, "triggerable": true, "undeletable": o.name != "User", "updateable": true, "urls": o.urls(v),
	}
}

func changeEventEntry(o *sobject, v string) map[string]any {
	name := changeEventName(o)
	base := "/services/data/v" + v + "/sobjects/" + name
	return map[string]any{
		"activateable": false, "associateEntityType": "ChangeEvent", "associateParentEntity": o.name, "createable": false,
		"custom": o.custom, "customSetting": false, "deepCloneable": false, "deletable": false, "deprecatedAndHidden": false,
		"feedEnabled": false, "hasSubtypes": false, "isInterface": false, "isSubtype": false, "keyPrefix": nil,
		"label": "Change Event: " + o.label, "labelPlural": "Change Event: " + o.label, "layoutable": false, "mergeable": false,
		"mruEnabled": false, "name": name, "queryable": false, "replicateable": false, "retrieveable": false,
		"searchable": false, "triggerable": false, "undeletable": false, "updateable": false,
		"urls": map[string]string{"eventSchema": base + "/eventSchema", "rowTemplate": base + "/{ID}", "describe": base + "/describe", "sobject": base},
	}
}

// describe is the full object describe.
func (s *Server) describe(o *sobject, v string) map[string]any {
	d := o.globalEntry(v)
	fields := make([]any, len(o.fields))
	for i, f := range o.fields {
		fields[i] = f.describe(o)
	}
	d["fields"] = fields
	var children []any
	names := make([]string, 0, len(s.objects))
	for n := range s.objects {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		child := s.objects[n]
		for _, f := range child.fields {
			for _, to := range f.ReferenceTo {
				if to != o.name || f.RelationshipName == "" || f.idx == child.iCreatedBy || f.idx == child.iModifiedBy {
					continue
				}
				relName := any(childRelName(child))
				if child.name == o.name {
					relName = "Child" + child.plural
				}
				children = append(children, map[string]any{
					"cascadeDelete": false, "childSObject": child.name, "deprecatedAndHidden": false, "field": f.Name,
					"junctionIdListNames": []string{}, "junctionReferenceTo": []string{}, "relationshipName": relName,
					"restrictedDelete": false,
				})
			}
		}
	}
	if children == nil {
		children = []any{}
	}
	d["childRelationships"] = children
	d["recordTypeInfos"] = []any{map[string]any{"active": true, "available": true, "defaultRecordTypeMapping": true,
		"developerName": "Master", "master": true, "name": "Master", "recordTypeId": "012000000000000AAA",
		"urls": map[string]string{"layout": "/services/data/v" + v + "/sobjects/" + o.name + "/describe/layouts/012000000000000AAA"}}}
	d["supportedScopes"] = []any{map[string]string{"label": "All " + strings.ToLower(o.plural), "name": "everything"},
		map[string]string{"label": "My " + strings.ToLower(o.plural), "name": "mine"}}
	u := o.urls(v)
	u["uiDetailTemplate"] = s.baseURL(nil) + "/{ID}"
	u["uiEditTemplate"] = s.baseURL(nil) + "/{ID}/e"
	u["uiNewRecord"] = s.baseURL(nil) + "/" + o.prefix + "/e"
	d["urls"] = u
	d["actionOverrides"] = []any{}
	d["namedLayoutInfos"] = []any{}
	d["networkScopeFieldName"] = nil
	d["listviewable"] = nil
	d["lookupLayoutFieldName"] = nil
	d["sobjectDescribeOption"] = "FULL"
	d["defaultImplementation"] = nil
	d["extendedBy"] = nil
	d["extendsInterfaces"] = nil
	d["implementedBy"] = nil
	d["implementsInterfaces"] = nil
	d["compactLayoutable"] = true
	d["searchLayoutable"] = true
	d["queryable"] = true
	return d
}

func childRelName(child *sobject) string {
	if child.custom {
		return strings.TrimSuffix(child.plural, "s") + "s__r"
	}
	return child.plural
}
