//! The declarative specs: model, loading with diagnostics, validation, and resolution into
//! per-namespace intents.
//!
//! `load` reads files (effect); `validate` and `resolve` are pure functions of the catalog.

pub mod catalog;
pub mod cron;
pub mod diag;
pub mod duration;
pub mod fleet;
pub mod load;
pub mod locate;
pub mod model;
pub mod names;
pub mod resolve;
pub mod rotation;
pub mod suggest;
pub mod tenancy;
pub mod validate;

use std::path::Path;

pub use catalog::{Catalog, Object, Origin};
pub use diag::{Diagnostic, Severity};

/// A spec folder that loaded and validated without errors (warnings may remain).
#[derive(Debug)]
pub struct Checked {
    pub catalog: Catalog,
    pub warnings: Vec<Diagnostic>,
}

/// Load and validate a spec folder; `Err` holds every diagnostic when any of them is an error.
pub fn check(root: &Path) -> Result<Checked, CheckSpecsError> {
    check_except(root, None)
}

/// `check`, leaving out one folder of the root (the Tenants, when they live in the repo).
pub fn check_except(root: &Path, except: Option<&Path>) -> Result<Checked, CheckSpecsError> {
    check_cached(root, except, None)
}

/// [`check_except`] through a daemon's [`load::LoadCache`].
pub fn check_cached(
    root: &Path,
    except: Option<&Path>,
    cache: Option<&mut load::LoadCache>,
) -> Result<Checked, CheckSpecsError> {
    let (catalog, mut diagnostics) = load::load_cached(root, except, cache)?;
    diagnostics.extend(validate::validate(&catalog));
    diag::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(CheckSpecsError::Invalid(diagnostics));
    }
    Ok(Checked {
        catalog,
        warnings: diagnostics,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CheckSpecsError {
    #[error(transparent)]
    Load(#[from] load::LoadSpecsError),
    #[error("the specs have {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
}
