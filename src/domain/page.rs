//! Paging of lists that grow with time (runs, the settings audit trail): newest first, a page
//! at a time, so an answer stays small however long a model has lived.

use serde::{Deserialize, Serialize};

use crate::domain::error::{AppError, Rule};

/// Entries per page when none is asked for.
pub const DEFAULT_PAGE: u32 = 20;
/// The most entries one page holds.
pub const MAX_PAGE: u32 = 200;

/// Which page: `limit` entries, older than the entry with id `before` (the last id of the page
/// before) when given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub before: Option<i64>,
}

impl Page {
    pub fn first(limit: u32) -> Page {
        Page {
            limit: Some(limit),
            before: None,
        }
    }

    /// The page size, checked.
    pub fn limit(&self) -> Result<i64, AppError> {
        match self.limit.unwrap_or(DEFAULT_PAGE) {
            n @ 1..=MAX_PAGE => Ok(i64::from(n)),
            _ => Err(AppError::invalid(
                "limit",
                Rule::Range,
                format!("must be between 1 and {MAX_PAGE}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_size_outside_the_range_is_refused() {
        assert_eq!(Page::default().limit().unwrap(), 20);
        assert_eq!(Page::first(200).limit().unwrap(), 200);
        for bad in [0, 201, u32::MAX] {
            assert_eq!(Page::first(bad).limit().unwrap_err().status(), 400);
        }
    }
}
