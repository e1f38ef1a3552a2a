//! The models page's shared state, handed to the table, menus and dialogs: its own module, so
//! the page and its parts import it rather than each other.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::app::live_store::LiveStore;
use crate::app::widgets::toast::Toasts;
use crate::domain::model::FirstRows;
use crate::domain::{AppError, Model};

/// The page's shared state, handed to the table, menus and dialogs.
#[derive(Clone, Copy)]
pub struct ModelsPageState {
    /// The first rows the server rendered the page with, and how many models there are.
    pub first: Resource<Result<FirstRows, AppError>>,
    /// Set when every model is needed (a search, a sort, "Show more") and the live channel
    /// has not brought them: the whole list is then fetched over HTTP.
    pub want_all: RwSignal<bool>,
    /// Bumped by a change made without a live channel, to fetch the list again.
    pub changed: RwSignal<u32>,
    pub selected: RwSignal<BTreeSet<i64>>,
    pub adding: RwSignal<bool>,
    pub deleting: RwSignal<Vec<Model>>,
    pub duplicating: RwSignal<Option<Model>>,
    pub live: LiveStore,
    /// Looked up once for the page: every row's buttons report through it.
    pub toasts: Toasts,
    /// What each model's file is (parameters, quantization, context), read in the browser
    /// after the page and again when the models or their files change.
    pub summaries: RwSignal<std::collections::HashMap<i64, crate::domain::gguf::FileSummary>>,
    /// Files in the model folders that Add would make models of (the found section counts
    /// them): on a first run they, not the path form, are the primary way in.
    pub found: RwSignal<usize>,
}

impl ModelsPageState {
    /// No model yet and files found to add: "Add all" is the page's primary action.
    pub fn first_run_with_files(self) -> bool {
        self.found.get() > 0
            && self
                .live
                .state
                .with(|s| s.as_ref().is_some_and(|s| s.models.is_empty()))
    }
}

impl ModelsPageState {
    /// After a change: the live channel brings it; without one, fetch the list again.
    pub fn reload(self) {
        if !self.live.is_live() {
            self.first.refetch();
            self.changed.update(|n| *n += 1);
        }
    }
}
