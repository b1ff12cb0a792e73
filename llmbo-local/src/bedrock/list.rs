//! ListModelInvocationJobs: filters, sorting and pages as Bedrock answers them.

use super::*;

pub(super) fn list(shared: &Arc<Shared>, query: Option<&str>) -> Reply {
    let mut status = None;
    let mut name_contains = None;
    let mut max_results = 1000usize;
    let mut cursor: Option<usize> = None;
    let mut ascending = false;
    let mut after: Option<DateTime<Utc>> = None;
    let mut before: Option<DateTime<Utc>> = None;
    for (key, value) in crate::http_util::form_pairs(query.unwrap_or("")) {
        match key.as_str() {
            "statusEquals" => match JobStatus::parse(&value) {
                Some(s) => status = Some(s),
                None => {
                    return constraint(
                        "statusEquals",
                        &value,
                        "Member must satisfy enum value set",
                    );
                }
            },
            "nameContains" => name_contains = Some(value),
            "maxResults" => match value.parse::<usize>() {
                Ok(n @ 1..=1000) => max_results = n,
                _ => {
                    return constraint(
                        "maxResults",
                        &value,
                        "Member must have value between 1 and 1000",
                    );
                }
            },
            "nextToken" => match value
                .strip_prefix("llmbo-local-")
                .and_then(|n| n.parse().ok())
            {
                Some(n) => cursor = Some(n),
                None => return validation("The nextToken is invalid.".into()),
            },
            "sortBy" if value != "CreationTime" => {
                return constraint(
                    "sortBy",
                    &value,
                    "Member must satisfy enum value set: [CreationTime]",
                );
            }
            "sortOrder" => match value.as_str() {
                "Ascending" => ascending = true,
                "Descending" => ascending = false,
                _ => {
                    return constraint(
                        "sortOrder",
                        &value,
                        "Member must satisfy enum value set: [Ascending, Descending]",
                    );
                }
            },
            "submitTimeAfter" | "submitTimeBefore" => {
                let Ok(time) = DateTime::parse_from_rfc3339(&value) else {
                    return validation(format!("{key} is not a valid timestamp"));
                };
                let time = time.with_timezone(&Utc);
                if key == "submitTimeAfter" {
                    after = Some(time);
                } else {
                    before = Some(time);
                }
            }
            _ => {}
        }
    }
    let jobs = lock(&shared.jobs);
    // A page starts after the last job of the one before, by creation order (jobs are only
    // ever added): a job created between two pages never pushes one seen already onto the
    // next page, as an offset would.
    let mut matching: Vec<(usize, &Job)> = jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| status.is_none_or(|s| j.status == s))
        .filter(|(_, j)| name_contains.as_deref().is_none_or(|n| j.name.contains(n)))
        .filter(|(_, j)| after.is_none_or(|t| j.submit_time > t))
        .filter(|(_, j)| before.is_none_or(|t| j.submit_time < t))
        .filter(|(index, _)| match cursor {
            None => true,
            Some(last) if ascending => *index > last,
            Some(last) => *index < last,
        })
        .collect();
    if !ascending {
        matching.reverse();
    }
    let page: Vec<Value> = matching
        .iter()
        .take(max_results)
        .map(|(_, j)| j.to_json())
        .collect();
    let mut body = json!({ "invocationJobSummaries": page });
    if matching.len() > max_results
        && let Some((last, _)) = matching.get(max_results - 1)
    {
        body["nextToken"] = json!(format!("llmbo-local-{last}"));
    }
    Reply::json(200, &body)
}
