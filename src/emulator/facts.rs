//! The emulator's own facts, copied from the reference (providers.md §3.5, §3.6) and kept
//! apart from the client's tables on purpose: when one side gets a fact wrong, the tests that
//! compare a call's estimate, its commit and the emulator's charge break, instead of agreeing.

/// SEMrush: report type, live units, historical units ("–" = none), charged per request.
pub const SEMRUSH_PRICES: &[(&str, u64, Option<u64>, bool)] = &[
    ("domain_ranks", 10, Some(50), false),
    ("domain_rank", 10, Some(50), false),
    ("domain_rank_history", 10, None, false),
    ("rank_difference", 20, Some(100), false),
    ("rank", 10, Some(50), false),
    ("domain_organic", 10, Some(50), false),
    ("domain_adwords", 20, Some(100), false),
    ("domain_adwords_unique", 40, None, false),
    ("domain_adwords_historical", 100, None, false),
    ("domain_organic_organic", 40, Some(200), false),
    ("domain_adwords_adwords", 40, Some(200), false),
    ("domain_shopping", 30, Some(150), false),
    ("domain_organic_unique", 10, Some(50), false),
    ("domain_organic_subdomains", 10, Some(50), false),
    ("domain_domains", 80, Some(400), false),
    ("phrase_this", 10, Some(50), false),
    ("phrase_all", 10, None, false),
    ("phrase_these", 10, Some(50), false),
    ("phrase_kdi", 50, None, false),
    ("phrase_related", 40, None, false),
    ("phrase_fullsearch", 20, None, false),
    ("phrase_questions", 40, None, false),
    ("phrase_organic", 10, Some(50), false),
    ("phrase_adwords", 20, Some(100), false),
    ("url_organic", 10, Some(50), false),
    ("url_adwords", 20, Some(100), false),
    ("backlinks_overview", 40, None, true),
    ("backlinks", 40, None, false),
    ("backlinks_refdomains", 40, None, false),
    ("backlinks_refips", 40, None, false),
    ("backlinks_tld", 40, None, false),
    ("backlinks_geo", 40, None, false),
    ("backlinks_anchors", 40, None, false),
    ("backlinks_pages", 40, None, false),
    ("backlinks_competitors", 40, None, false),
    ("backlinks_comparison", 40, None, false),
    ("backlinks_matrix", 40, None, false),
    ("backlinks_historical", 40, None, false),
    ("backlinks_categories_profile", 40, None, false),
    ("backlinks_categories", 50, None, true),
    ("backlinks_ascore_profile", 100, None, true),
];

/// Units per line (or per request) of a report, and whether it is charged per request. Only
/// a past month is historical; a report without a historical price charges its live one.
pub fn semrush_price(report: &str, historical: bool) -> Option<(u64, bool)> {
    SEMRUSH_PRICES.iter().find(|p| p.0 == report).map(|&(_, live, hist, per_request)| {
        let price = match hist {
            Some(h) if historical => h,
            _ => live,
        };
        (price, per_request)
    })
}

/// Whether a `display_date` (YYYYMMDD) names a month before the current one.
pub fn semrush_is_past_month(display_date: &str) -> bool {
    let d = display_date.as_bytes();
    if d.len() != 8 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let year: i64 = display_date[..4].parse().unwrap_or(0);
    let month: u32 = display_date[4..6].parse().unwrap_or(0);
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
    let (y, m, _) = crate::ledger::civil_from_days(days as i64);
    (year, month) < (y, m)
}

/// CSV header text of a column code in SEMrush answers (§3.5; per-report variants are in
/// `semrush::header`). Backlinks reports write the raw code.
pub const SEMRUSH_HEADERS: &[(&str, &str)] = &[
    ("Ph", "Keyword"), ("Po", "Position"), ("Pp", "Previous Position"), ("Pd", "Position Difference"),
    ("Nq", "Search Volume"), ("Cp", "CPC"), ("Co", "Competition"), ("Nr", "Number of Results"), ("Td", "Trends"),
    ("Kd", "Keyword Difficulty Index"), ("In", "Intents"), ("Ur", "Url"), ("Tr", "Traffic (%)"),
    ("Tc", "Traffic Cost (%)"), ("Tg", "Traffic"), ("Ts", "Timestamp"), ("Fk", "Keywords SERP Features"),
    ("Fp", "SERP Features"), ("Pt", "Position type"), ("Rr", "Related Relevance"), ("Db", "Database"),
    ("Dn", "Domain"), ("Rk", "Rank"), ("Or", "Organic Keywords"), ("Ot", "Organic Traffic"), ("Oc", "Organic Cost"),
    ("Ad", "Adwords Keywords"), ("At", "Adwords Traffic"), ("Ac", "Adwords Cost"), ("Sh", "PLA keywords"),
    ("Sv", "PLA uniques"), ("Dt", "Date"), ("Tt", "Title"), ("Ds", "Description"), ("Vu", "Visible Url"),
    ("Ab", "Adwords Block"), ("Un", "Ad id"), ("Pc", "Number of Keywords"), ("Np", "Common Keywords"),
    ("Cr", "Competitor Relevance"),
];

pub fn semrush_header(code: &str) -> String {
    SEMRUSH_HEADERS.iter().find(|(c, _)| *c == code).map_or_else(|| code.to_string(), |(_, h)| h.to_string())
}

/// SEMrush: report type, whether it needs `database`, how many lines it answers (`limit`:
/// up to display_limit; `one`; `databases`: one per regional database; `phrases`: one per
/// phrase; `history`: one per month), and its default export columns (providers.md §3.6;
/// empty: the reference lists none).
pub const SEMRUSH_REPORTS: &[(&str, bool, &str, &str)] = &[
    ("domain_ranks", false, "databases", "Db,Dn,Rk,Or,Ot,Oc,Ad,At,Ac,Sh,Sv"),
    ("domain_rank", true, "one", "Dn,Rk,Or,Ot,Oc,Ad,At,Ac,Sh,Sv"),
    ("domain_rank_history", true, "history", "Rk,Or,Ot,Oc,Ad,At,Ac,Dt"),
    ("rank_difference", true, "limit", "Dn,Rk,Or,Ot,Oc,Ad,At,Ac"),
    ("rank", true, "limit", "Dn,Rk,Or,Ot,Oc,Ad,At,Ac"),
    ("domain_organic", true, "limit", "Ph,Po,Pp,Pd,Nq,Cp,Ur,Tr,Tc,Co,Nr,Td"),
    ("domain_adwords", true, "limit", "Ph,Po,Pp,Pd,Ab,Nq,Cp,Tr,Tc,Co,Nr,Td,Tt,Ds,Vu,Ur"),
    ("domain_adwords_unique", true, "limit", "Ph,Po,Tt,Ds,Vu,Ur,Pc"),
    ("domain_adwords_historical", true, "limit", "Ph,Dt,Po,Ur,Tt,Ds,Vu,At,Ac,Ad"),
    ("domain_organic_organic", true, "limit", "Dn,Cr,Np,Or,Ot,Oc,Ad"),
    ("domain_adwords_adwords", true, "limit", "Dn,Cr,Np,Ad,At,Ac,Or"),
    ("domain_shopping", true, "limit", "Ph,Po,Pp,Pd,Nq,Cp,Ur,Tt,Tr,Tc,Co,Nr,Td"),
    ("domain_organic_unique", true, "limit", "Ur,Pc,Tg,Tr"),
    ("domain_organic_subdomains", true, "limit", "Ur,Pc,Tg,Tr"),
    ("domain_domains", true, "limit", "Ph,P0,P1,P2,P3,P4,Nr,Cp,Co,Nq"),
    ("phrase_this", true, "one", "Ph,Nq,Cp,Co,Nr,Td"),
    ("phrase_all", false, "databases", "Db,Ph,Nq,Cp,Co"),
    ("phrase_these", true, "phrases", "Ph,Nq,Cp,Co,Nr,Td"),
    ("phrase_kdi", true, "phrases", "Ph,Kd"),
    ("phrase_related", true, "limit", "Ph,Nq,Cp,Co,Nr,Td,Rr"),
    ("phrase_fullsearch", true, "limit", "Ph,Nq,Cp,Co,Nr,Td"),
    ("phrase_questions", true, "limit", "Ph,Nq,Cp,Co,Nr,Td"),
    ("phrase_organic", true, "limit", "Dn,Ur"),
    ("phrase_adwords", true, "limit", "Dn,Ur,Vu"),
    ("url_organic", true, "limit", "Ph,Po,Nq,Cp,Co,Tr,Tc,Nr,Td"),
    ("url_adwords", true, "limit", "Ph,Po,Nq,Cp,Co,Tr,Tc,Nr,Td,Tt,Ds,Vu"),
    ("backlinks_overview", false, "one", "ascore,total,domains_num,urls_num,ips_num,ipclassc_num,follows_num,nofollows_num,sponsored_num,ugc_num,texts_num,images_num,forms_num,frames_num"),
    ("backlinks", false, "limit", "page_ascore,source_title,source_url,target_url,anchor,external_num,internal_num,first_seen,last_seen"),
    ("backlinks_refdomains", false, "limit", "domain_ascore,domain,backlinks_num,ip,country,first_seen,last_seen"),
    ("backlinks_refips", false, "limit", ""),
    ("backlinks_tld", false, "limit", ""),
    ("backlinks_geo", false, "limit", ""),
    ("backlinks_anchors", false, "limit", "anchor,domains_num,backlinks_num,first_seen,last_seen"),
    ("backlinks_pages", false, "limit", ""),
    ("backlinks_competitors", false, "limit", ""),
    ("backlinks_comparison", false, "limit", ""),
    ("backlinks_matrix", false, "limit", ""),
    ("backlinks_historical", false, "limit", ""),
    ("backlinks_categories_profile", false, "limit", ""),
    ("backlinks_categories", false, "one", ""),
    ("backlinks_ascore_profile", false, "one", ""),
];
