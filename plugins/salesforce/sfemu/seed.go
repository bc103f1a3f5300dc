package sfemu

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

var (
	firstNames = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
		"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen", "Christopher",
		"Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret", "Sofia", "Lucas", "Amelie",
		"Hiroshi", "Yuki", "Priya", "Arjun", "Fatima", "Omar", "Chen", "Wei", "Olga", "Ivan", "Lena", "Mateo", "Camila"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
		"Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
		"Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Müller", "Dubois", "Rossi", "Tanaka",
		"Kowalski", "O'Brien", "Svensson", "Novak", "Patel", "Kim"}
	companyWords = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Cyberdyne", "Soylent",
		"Tyrell", "Hooli", "Vandelay", "Pied Piper", "Massive Dynamic", "Aperture", "Gringotts", "Oscorp", "Nakatomi",
		"Blue Sun", "Monarch", "Vehement", "Dunder", "Sterling", "Bluth", "Prestige", "Oceanic", "Virtucon", "Zorg"}
	companySuffix = []string{"Inc.", "LLC", "Corp.", "Ltd.", "GmbH", "Group", "Holdings", "Partners", "Systems", "Labs"}
	streets       = []string{"Main St", "Market St", "Oak Ave", "Pine St", "Maple Ave", "Cedar Rd", "Elm St", "Washington Blvd",
		"Lake Shore Dr", "Sunset Blvd", "Broadway", "High St", "King St", "Church Rd", "Park Ave"}
	cities = []struct{ city, state, country, zip string }{
		{"San Francisco", "CA", "United States", "94105"}, {"New York", "NY", "United States", "10001"},
		{"Chicago", "IL", "United States", "60601"}, {"Austin", "TX", "United States", "73301"},
		{"Seattle", "WA", "United States", "98101"}, {"Boston", "MA", "United States", "02108"},
		{"London", "", "United Kingdom", "EC1A 1BB"}, {"Paris", "", "France", "75001"},
		{"Berlin", "", "Germany", "10115"}, {"Tokyo", "", "Japan", "100-0001"},
		{"Sydney", "NSW", "Australia", "2000"}, {"Toronto", "ON", "Canada", "M5H 2N2"},
	}
	titles      = []string{"CEO", "CFO", "CTO", "VP Sales", "VP Marketing", "Director of IT", "Sales Manager", "Buyer", "Engineer", "Analyst", "Office Manager", "Procurement Lead"}
	departments = []string{"Sales", "Marketing", "Finance", "Engineering", "Operations", "Support", "IT", "Legal", "HR"}
	subjects    = []string{"Cannot log in", "Invoice question", "Shipment delayed", "Product defect", "Feature request", "Password reset", "Billing discrepancy", "Installation help", "Performance issue", "Data export"}
)

// boxed pre-boxes strings so assigning them to an interface allocates nothing.
func boxed(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

var (
	bFirst, bLast, bTitles, bDepts = boxed(firstNames), boxed(lastNames), boxed(titles), boxed(departments)
	bSubjects                      = boxed(subjects)
	bFalse                         = any(false)
)

// gen fills records of one object; idx resolves field names.
type gen struct {
	o    *sobject
	rng  *rand.Rand
	now  int64 // ms
	n    int   // records per object
	user func(rng *rand.Rand) any
}

func (g *gen) ix(name string) int {
	f := g.o.field(name)
	if f == nil {
		panic("sfemu: no field " + name + " on " + g.o.name)
	}
	return f.idx
}

func pickAny(rng *rand.Rand, xs []any) any { return xs[rng.IntN(len(xs))] }
func pickStr(rng *rand.Rand, xs []string) string {
	return xs[rng.IntN(len(xs))]
}

// seed generates Options.Records records per object plus the admin user.
func (s *Server) seed() {
	n := s.opts.Records
	// Nearly everything seeding allocates stays live: collections would only
	// rescan a growing heap.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	nowMs := s.now().UnixMilli()
	nowMs -= nowMs % 1000
	ut := s.tables["user"]
	admin := s.adminUser(nowMs)
	ut.add(admin)
	adminID := any(admin.id(ut.obj))
	userCount := n + 1
	userOf := func(rng *rand.Rand) any {
		if n == 0 {
			return adminID
		}
		return mintID("005", uint64(1+rng.IntN(userCount)))
	}
	var wg sync.WaitGroup
	for oi, o := range s.order {
		count := n
		if o.generate >= 0 && o.custom {
			count = o.generate
		}
		if count == 0 && len(o.seedRecords) == 0 {
			continue
		}
		t := s.tables[strings.ToLower(o.name)]
		wg.Add(1)
		go func(oi int, o *sobject, t *table, count int) {
			defer wg.Done()
			g := &gen{o: o, rng: rand.New(rand.NewPCG(uint64(s.opts.Seed), uint64(oi+1))), now: nowMs, n: n, user: userOf}
			fill := g.filler()
			nf := len(o.fields)
			const chunk = 65536
			var slab []any
			var recSlab []record
			start := uint64(t.seq)
			t.recs = append(make([]*record, 0, len(t.recs)+count), t.recs...)
			if len(t.byID) == 0 {
				t.byID = make(map[string]*record, count+1)
			}
			for i := 0; i < count; i++ {
				if len(slab) < nf {
					slab = make([]any, nf*chunk)
					recSlab = make([]record, chunk)
				}
				vals := slab[:nf:nf]
				slab = slab[nf:]
				rec := &recSlab[0]
				recSlab = recSlab[1:]
				rec.vals = vals
				seq := start + uint64(i) + 1
				id := mintID(o.prefix, seq)
				vals[o.iID] = id
				vals[o.iDeleted] = bFalse
				created := nowMs - g.rng.Int64N(730*dayMs)
				modified := created + g.rng.Int64N(nowMs-created+1)
				created, modified = created-created%1000, modified-modified%1000
				vals[o.iCreated], vals[o.iModified], vals[o.iStamp] = dtVal(created), dtVal(modified), dtVal(modified)
				vals[o.iCreatedBy], vals[o.iModifiedBy] = adminID, adminID
				if o.iOwner >= 0 {
					vals[o.iOwner] = userOf(g.rng)
				}
				fill(int(seq), vals)
				t.recs = append(t.recs, rec)
				t.byID[id] = rec
			}
			t.seq = start + uint64(count)
			if o.custom && len(o.seedRecords) > 0 {
				for _, m := range o.seedRecords {
					vals, errs := s.buildRecord(o, t, m, true, nowMs)
					if len(errs) > 0 {
						continue
					}
					t.add(&record{vals: vals})
				}
			}
		}(oi, o, t, count)
	}
	wg.Wait()
}

func (s *Server) adminUser(nowMs int64) *record {
	o := s.objects["user"]
	vals := make([]any, len(o.fields))
	set := func(n string, v any) { vals[o.field(n).idx] = v }
	id := mintID("005", 1)
	set("Id", id)
	set("IsDeleted", false)
	set("Username", s.opts.Username)
	set("FirstName", "Dev")
	set("LastName", "Admin")
	set("Name", "Dev Admin")
	set("Email", s.opts.Username)
	set("Alias", "devadmin")
	set("CommunityNickname", "dev")
	set("IsActive", true)
	set("TimeZoneSidKey", "America/Los_Angeles")
	set("LocaleSidKey", "en_US")
	set("EmailEncodingKey", "UTF-8")
	set("LanguageLocaleKey", "en_US")
	set("ProfileId", mintID("00e", 1))
	set("UserType", "Standard")
	set("CompanyName", "sluice development")
	ts := dtVal(nowMs - 800*dayMs)
	for _, n := range []string{"CreatedDate", "LastModifiedDate", "SystemModstamp"} {
		set(n, ts)
	}
	set("CreatedById", id)
	set("LastModifiedById", id)
	return &record{vals: vals}
}

func (g *gen) person(vals []any, seq int, withSalutation bool) (string, string) {
	first := pickAny(g.rng, bFirst)
	last := pickAny(g.rng, bLast)
	vals[g.ix("FirstName")] = first
	vals[g.ix("LastName")] = last
	vals[g.ix("Name")] = first.(string) + " " + last.(string)
	if withSalutation && g.rng.IntN(3) == 0 {
		vals[g.ix("Salutation")] = pickStr(g.rng, []string{"Mr.", "Ms.", "Dr."})
	}
	return first.(string), last.(string)
}

func (g *gen) address(vals []any, prefix string) {
	c := cities[g.rng.IntN(len(cities))]
	vals[g.ix(prefix+"Street")] = strconv.Itoa(1+g.rng.IntN(9999)) + " " + pickStr(g.rng, streets)
	vals[g.ix(prefix+"City")] = c.city
	if c.state != "" {
		vals[g.ix(prefix+"State")] = c.state
	}
	vals[g.ix(prefix+"PostalCode")] = c.zip
	vals[g.ix(prefix+"Country")] = c.country
}

func company(rng *rand.Rand, seq int) string {
	return companyWords[rng.IntN(len(companyWords))] + " " + companySuffix[rng.IntN(len(companySuffix))] + " #" + strconv.Itoa(seq)
}

func phone(rng *rand.Rand) string {
	return fmt.Sprintf("(%03d) %03d-%04d", 200+rng.IntN(800), 200+rng.IntN(800), rng.IntN(10000))
}

func emailOf(first, last string, seq int, domain string) string {
	return strings.ToLower(strings.ReplaceAll(first, "'", "")+"."+strings.ReplaceAll(last, "'", "")) + strconv.Itoa(seq) + "@" + domain
}

// filler returns the per-object generator of the non-system fields.
func (g *gen) filler() func(seq int, vals []any) {
	rng := g.rng
	n := max(g.n, 1)
	switch g.o.name {
	case "Account":
		iName, iType, iInd, iPhone, iWeb, iRev, iEmp, iNum, iRating, iDesc := g.ix("Name"), g.ix("Type"), g.ix("Industry"), g.ix("Phone"), g.ix("Website"), g.ix("AnnualRevenue"), g.ix("NumberOfEmployees"), g.ix("AccountNumber"), g.ix("Rating"), g.ix("Description")
		bTypes, bInd := boxed(acctTypes), boxed(industries)
		return func(seq int, vals []any) {
			name := company(rng, seq)
			vals[iName] = name
			vals[iType] = pickAny(rng, bTypes)
			vals[iInd] = pickAny(rng, bInd)
			vals[iPhone] = phone(rng)
			vals[iWeb] = "https://www." + strings.ToLower(strings.Fields(name)[0]) + strconv.Itoa(seq) + ".example.com"
			vals[iRev] = float64(rng.IntN(5000)) * 100000
			vals[iEmp] = float64(1 + rng.IntN(50000))
			vals[iNum] = "CD" + strconv.Itoa(100000+seq)
			if rng.IntN(2) == 0 {
				vals[iRating] = pickStr(rng, []string{"Hot", "Warm", "Cold"})
			}
			if rng.IntN(4) == 0 {
				vals[iDesc] = "Key account in " + industries[rng.IntN(len(industries))] + "."
			}
			g.address(vals, "Billing")
			if rng.IntN(2) == 0 {
				g.address(vals, "Shipping")
			}
		}
	case "Contact":
		iAcc, iEmail, iPhone, iMob, iTitle, iDept, iSrc, iBirth, iOpt := g.ix("AccountId"), g.ix("Email"), g.ix("Phone"), g.ix("MobilePhone"), g.ix("Title"), g.ix("Department"), g.ix("LeadSource"), g.ix("Birthdate"), g.ix("HasOptedOutOfEmail")
		bSrc := boxed(leadSources)
		return func(seq int, vals []any) {
			first, last := g.person(vals, seq, true)
			if rng.IntN(10) != 0 {
				vals[iAcc] = mintID("001", uint64(1+rng.IntN(n)))
			}
			vals[iEmail] = emailOf(first, last, seq, "example.com")
			vals[iPhone] = phone(rng)
			if rng.IntN(2) == 0 {
				vals[iMob] = phone(rng)
			}
			vals[iTitle] = pickAny(rng, bTitles)
			vals[iDept] = pickAny(rng, bDepts)
			vals[iSrc] = pickAny(rng, bSrc)
			if rng.IntN(3) == 0 {
				vals[iBirth] = dateVal(-3650 + rng.IntN(12000))
			}
			vals[iOpt] = rng.IntN(10) == 0
			g.address(vals, "Mailing")
		}
	case "Lead":
		iCo, iEmail, iPhone, iTitle, iSrc, iStatus, iInd, iRating, iRev, iEmp, iConv := g.ix("Company"), g.ix("Email"), g.ix("Phone"), g.ix("Title"), g.ix("LeadSource"), g.ix("Status"), g.ix("Industry"), g.ix("Rating"), g.ix("AnnualRevenue"), g.ix("NumberOfEmployees"), g.ix("IsConverted")
		bSrc, bStatus, bInd := boxed(leadSources), boxed(leadStatus), boxed(industries)
		return func(seq int, vals []any) {
			first, last := g.person(vals, seq, true)
			vals[iCo] = company(rng, seq)
			vals[iEmail] = emailOf(first, last, seq, "example.org")
			vals[iPhone] = phone(rng)
			vals[iTitle] = pickAny(rng, bTitles)
			vals[iSrc] = pickAny(rng, bSrc)
			st := pickAny(rng, bStatus)
			vals[iStatus] = st
			vals[iConv] = st == "Closed - Converted"
			vals[iInd] = pickAny(rng, bInd)
			if rng.IntN(2) == 0 {
				vals[iRating] = pickStr(rng, []string{"Hot", "Warm", "Cold"})
			}
			vals[iRev] = float64(rng.IntN(1000)) * 10000
			vals[iEmp] = float64(1 + rng.IntN(5000))
			g.address(vals, "")
		}
	case "Opportunity":
		iAcc, iName, iStage, iAmt, iProb, iClose, iType, iSrc, iClosed, iWon, iFc := g.ix("AccountId"), g.ix("Name"), g.ix("StageName"), g.ix("Amount"), g.ix("Probability"), g.ix("CloseDate"), g.ix("Type"), g.ix("LeadSource"), g.ix("IsClosed"), g.ix("IsWon"), g.ix("ForecastCategoryName")
		bStages, bSrc := boxed(stages), boxed(leadSources)
		today := g.now / dayMs
		return func(seq int, vals []any) {
			vals[iAcc] = mintID("001", uint64(1+rng.IntN(n)))
			si := rng.IntN(len(stages))
			vals[iName] = pickStr(rng, companyWords) + " - " + pickStr(rng, []string{"Renewal", "Expansion", "New Business", "Upgrade", "Pilot"}) + " " + strconv.Itoa(seq)
			vals[iStage] = bStages[si]
			vals[iAmt] = float64(1000 + rng.IntN(500)*1000)
			prob := float64(si * 10)
			closed := si >= 8
			if si == 8 {
				prob = 100
			} else if si == 9 {
				prob = 0
			}
			vals[iProb] = prob
			vals[iClose] = dateVal(today - 365 + int64(rng.IntN(730)))
			vals[iType] = pickStr(rng, []string{"New Customer", "Existing Customer - Upgrade", "Existing Customer - Replacement"})
			vals[iSrc] = pickAny(rng, bSrc)
			vals[iClosed] = closed
			vals[iWon] = si == 8
			switch {
			case si == 8:
				vals[iFc] = "Closed"
			case si == 9:
				vals[iFc] = "Omitted"
			case si >= 6:
				vals[iFc] = "Commit"
			default:
				vals[iFc] = "Pipeline"
			}
		}
	case "Case":
		iNum, iCon, iAcc, iStatus, iPrio, iOrigin, iSubj, iDesc, iClosed, iClosedDate, iEsc, iEmail, iType, iReason := g.ix("CaseNumber"), g.ix("ContactId"), g.ix("AccountId"), g.ix("Status"), g.ix("Priority"), g.ix("Origin"), g.ix("Subject"), g.ix("Description"), g.ix("IsClosed"), g.ix("ClosedDate"), g.ix("IsEscalated"), g.ix("SuppliedEmail"), g.ix("Type"), g.ix("Reason")
		bStatus, bPrio, bOrigin := boxed(caseStatus), boxed(casePrio), boxed(caseOrigin)
		return func(seq int, vals []any) {
			vals[iNum] = fmt.Sprintf("%08d", 1000+seq)
			vals[iCon] = mintID("003", uint64(1+rng.IntN(n)))
			vals[iAcc] = mintID("001", uint64(1+rng.IntN(n)))
			st := pickAny(rng, bStatus)
			vals[iStatus] = st
			vals[iPrio] = pickAny(rng, bPrio)
			vals[iOrigin] = pickAny(rng, bOrigin)
			vals[iSubj] = pickAny(rng, bSubjects)
			if rng.IntN(2) == 0 {
				vals[iDesc] = "Customer reports: " + subjects[rng.IntN(len(subjects))] + "."
			}
			vals[iClosed] = st == "Closed"
			if st == "Closed" {
				vals[iClosedDate] = vals[g.o.iModified]
			}
			vals[iEsc] = st == "Escalated"
			if rng.IntN(3) == 0 {
				vals[iEmail] = "customer" + strconv.Itoa(seq) + "@example.net"
			}
			vals[iType] = pickStr(rng, []string{"Mechanical", "Electrical", "Electronic", "Structural", "Other"})
			vals[iReason] = pickStr(rng, []string{"Installation", "Performance", "Breakdown", "Feedback", "Other"})
		}
	case "User":
		iUser, iEmail, iAlias, iNick, iActive, iTZ, iLoc, iEnc, iLang, iProf, iType, iTitle, iDept, iCo, iMgr := g.ix("Username"), g.ix("Email"), g.ix("Alias"), g.ix("CommunityNickname"), g.ix("IsActive"), g.ix("TimeZoneSidKey"), g.ix("LocaleSidKey"), g.ix("EmailEncodingKey"), g.ix("LanguageLocaleKey"), g.ix("ProfileId"), g.ix("UserType"), g.ix("Title"), g.ix("Department"), g.ix("CompanyName"), g.ix("ManagerId")
		profile := any(mintID("00e", 2))
		return func(seq int, vals []any) {
			first, last := g.person(vals, seq, false)
			email := emailOf(first, last, seq, "users.example.com")
			vals[iUser] = email
			vals[iEmail] = email
			alias := strings.ToLower(first[:1] + last)
			if len(alias) > 8 {
				alias = alias[:8]
			}
			vals[iAlias] = alias
			vals[iNick] = "user" + strconv.Itoa(seq)
			vals[iActive] = rng.IntN(20) != 0
			vals[iTZ] = pickStr(rng, []string{"America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris", "Asia/Tokyo"})
			vals[iLoc] = "en_US"
			vals[iEnc] = "UTF-8"
			vals[iLang] = "en_US"
			vals[iProf] = profile
			vals[iType] = "Standard"
			vals[iTitle] = pickAny(rng, bTitles)
			vals[iDept] = pickAny(rng, bDepts)
			vals[iCo] = "sluice development"
			if seq > 2 {
				vals[iMgr] = mintID("005", uint64(1+rng.IntN(seq-1)))
			}
		}
	}
	// custom objects: values by type
	o := g.o
	return func(seq int, vals []any) {
		for _, f := range o.fields {
			if f.idx == o.iID || f.idx == o.iDeleted || f.idx == o.iCreated || f.idx == o.iCreatedBy ||
				f.idx == o.iModified || f.idx == o.iModifiedBy || f.idx == o.iStamp || f.idx == o.iOwner {
				continue
			}
			if f.Name == "Name" {
				if f.AutoNumber {
					vals[f.idx] = fmt.Sprintf("%s-%06d", strings.ToUpper(o.prefix), seq)
				} else {
					vals[f.idx] = o.label + " " + strconv.Itoa(seq)
				}
				continue
			}
			if f.nillable && rng.IntN(8) == 0 {
				continue
			}
			switch f.Type {
			case "boolean":
				vals[f.idx] = rng.IntN(2) == 0
			case "double", "currency", "percent":
				vals[f.idx] = float64(rng.IntN(100000)) / 100
			case "int", "long":
				vals[f.idx] = float64(rng.IntN(10000))
			case "date":
				vals[f.idx] = dateVal(g.now/dayMs - int64(rng.IntN(730)))
			case "datetime":
				vals[f.idx] = dtVal(g.now - rng.Int64N(730*86400)*1000)
			case "time":
				vals[f.idx] = timeVal(rng.IntN(dayMs))
			case "picklist":
				if len(f.PicklistValues) > 0 {
					vals[f.idx] = pickStr(rng, f.PicklistValues)
				}
			case "multipicklist":
				if len(f.PicklistValues) > 0 {
					vals[f.idx] = pickStr(rng, f.PicklistValues)
				}
			case "email":
				vals[f.idx] = "user" + strconv.Itoa(seq) + "@example.com"
			case "phone":
				vals[f.idx] = phone(rng)
			case "url":
				vals[f.idx] = "https://example.com/" + strconv.Itoa(seq)
			case "reference":
				if len(f.ReferenceTo) > 0 {
					switch f.ReferenceTo[0] {
					case "Account":
						vals[f.idx] = mintID("001", uint64(1+rng.IntN(n)))
					case "Contact":
						vals[f.idx] = mintID("003", uint64(1+rng.IntN(n)))
					case "User":
						vals[f.idx] = g.user(rng)
					}
				}
			case "address", "location", "id":
			default:
				if f.ExternalID {
					vals[f.idx] = strings.ToUpper(o.prefix) + "-" + strconv.Itoa(seq)
				} else {
					vals[f.idx] = pickStr(rng, subjects)
				}
			}
		}
	}
}
