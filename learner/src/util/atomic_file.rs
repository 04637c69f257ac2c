//! Files written so that a reader sees the old one or the whole new one, never half.
use std::{
    ffi::OsString,
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
};

/// A file about to replace `path`: a temporary file beside it, created now (so a caller
/// learns early that it cannot write there), synced and renamed over `path` on commit, and
/// removed if never committed.
#[derive(Debug)]
pub struct PendingFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<fs::File>,
}

impl PendingFile {
    pub fn create(path: &Path) -> io::Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io::Error::other("not a file name"))?;
        let mut tmp_name = OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let file = fs::File::create(&tmp)?;
        Ok(Self {
            path: path.to_owned(),
            tmp,
            file: Some(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits to `path` instead, a file in the same directory (the temporary file is there).
    pub fn redirect(&mut self, path: &Path) {
        self.path = path.to_owned();
    }

    /// Writes `parts` in order, syncs, and renames the file into place.
    pub fn commit(mut self, parts: &[&[u8]]) -> io::Result<()> {
        let mut file = self.file.take().expect("committed once");
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()?;
        fs::rename(&self.tmp, &self.path)?;
        self.tmp.clear();
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `path` with `bytes` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    PendingFile::create(path)?.commit(&[bytes])
}
