//! The local store: a data directory laid out like the bucket.
//!
//! Whole-object writes go through a temp file and a rename, so `exit` and `size` are never
//! seen torn; logs grow by appending. Log URLs point at the service's `/_store/` route
//! (`api::signed_objects`) and carry an HMAC over key and expiry, checked the way S3 checks
//! a presigned URL.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use super::listings::Listings;
use super::spares::{private, Spares};
use super::{Store, StoreError};
use crate::time::now_unix;

/// Escaped in each part of a key in a URL: all but RFC 3986's unreserved characters.
const PATH_PART: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The route prefix under which signed object URLs are served.
pub const ROUTE: &str = "/_store/";

const TMP_DIR: &str = ".tmp";

pub struct LocalStore {
    root: PathBuf,
    secret: [u8; 32],
    spares: Spares,
    listings: std::sync::Arc<Listings>,
}

impl LocalStore {
    /// Opens (creating if needed) a data directory. Signed URLs are valid only for the life
    /// of this value: each start signs with a fresh secret.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let io = |source| StoreError::Io {
            key: root.display().to_string(),
            source,
        };
        std::fs::create_dir_all(root.join(TMP_DIR)).map_err(io)?;
        // Keys and every user's logs live here: the serving user's alone.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        Ok(LocalStore {
            spares: Spares::new(&root.join(TMP_DIR)),
            listings: Default::default(),
            root,
            secret: rand::random(),
        })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn mac(&self, method: &str, key: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        mac.update(format!("{method}\n{key}\n{expires}").as_bytes());
        mac
    }

    fn signed_url(&self, method: &str, key: &str, ttl: Duration) -> Result<String, StoreError> {
        check_key(key)?;
        let expires = now_unix() + ttl.as_secs().max(1);
        let sig = hex::encode(self.mac(method, key, expires).finalize().into_bytes());
        // Each part of the key escaped ('#', '?', '%' and spaces may be in an artifact's
        // name); the route decodes them back before checking the signature.
        let path: Vec<String> = key
            .split('/')
            .map(|part| utf8_percent_encode(part, PATH_PART).to_string())
            .collect();
        Ok(format!(
            "{ROUTE}{}?expires={expires}&sig={sig}",
            path.join("/")
        ))
    }

    /// Whether `sig` signs `method` (GET or PUT) of `key` until `expires`, and that time has
    /// not passed.
    pub fn verify(&self, method: &str, key: &str, expires: u64, sig: &str) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        self.mac(method, key, expires).verify_slice(&sig).is_ok() && now_unix() <= expires
    }

    /// Stores a body that arrives in pieces (an upload to a signed PUT URL), at most
    /// `limit` bytes; `Ok(false)` when it was larger (nothing is stored then).
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        mut body: S,
        limit: u64,
    ) -> Result<bool, StoreError>
    where
        S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        let path = self.path(key)?;
        let tmp = self.tmp_path();
        let mut file = private_file(&tmp).await.map_err(io_err(key))?;
        let mut written = 0u64;
        let outcome = async {
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.map_err(|e| StoreError::Backend(format!("{key}: upload: {e}")))?;
                written += chunk.len() as u64;
                if written > limit {
                    return Ok(false);
                }
                file.write_all(&chunk).await.map_err(io_err(key))?;
            }
            file.flush().await.map_err(io_err(key))?;
            Ok(true)
        }
        .await;
        if !matches!(outcome, Ok(true)) {
            let _ = tokio::fs::remove_file(&tmp).await;
            return outcome;
        }
        let (spares, listings) = (self.spares.clone(), self.listings.clone());
        blocking(key, move || {
            listings.placing(&path, || {
                in_dir(&spares, &path, || std::fs::rename(&tmp, &path)).inspect_err(|_| {
                    let _ = std::fs::remove_file(&tmp);
                })
            })
        })
        .await?;
        Ok(true)
    }

    /// The file behind `key`, for serving a URL that [`LocalStore::verify`] accepted.
    pub fn object_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        self.path(key)
    }

    fn tmp_path(&self) -> PathBuf {
        self.spares.fresh()
    }
}

/// A new file readable by the serving user alone (keys live here).
async fn private_file(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::from(private().create_new(true).clone())
        .open(path)
        .await
}

/// Moves `tmp` to `path`, replacing atomically whatever is there. A file already there is
/// swapped out, then removed: ext4 flushes a file renamed over another before the rename
/// (`auto_da_alloc`), which costs more than the rest of a small write, and a swap is not
/// flushed. Filesystems without these rename flags get a plain rename.
fn replace(tmp: &Path, path: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    let rename = |flags| renameat_with(CWD, tmp, CWD, path, flags);
    match rename(RenameFlags::NOREPLACE) {
        Err(Errno::EXIST) => match rename(RenameFlags::EXCHANGE) {
            // `tmp` now holds what `path` held.
            Ok(()) => found(std::fs::remove_file(tmp)).map(drop),
            Err(Errno::INVAL | Errno::NOSYS) => std::fs::rename(tmp, path),
            Err(e) => Err(e.into()),
        },
        Err(Errno::INVAL | Errno::NOSYS) => std::fs::rename(tmp, path),
        done => done.map_err(Into::into),
    }
}

/// Moves `tmp` to `path` unless a file is there: atomic and exclusive, the file appearing
/// whole. A rename that refuses to replace is one call; filesystems without it get a hard
/// link, which fails the same way, and the removal of `tmp`.
fn place_new(tmp: &Path, path: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, tmp, CWD, path, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL | Errno::NOSYS) => {
            std::fs::hard_link(tmp, path)?;
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        done => done.map_err(Into::into),
    }
}

fn io_err(key: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        key: key.to_owned(),
        source,
    }
}

/// Keys are relative, `/`-separated, with no empty, `.` or `..` segments.
fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 1024
        && !key.contains(['\\', '\0'])
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg != TMP_DIR)
        // The secrets' directory is never an object.
        && key.split('/').next() != Some(crate::secrets::local::SECRETS_DIR);
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadKey(key.chars().take(200).collect()))
    }
}

/// Bodies up to this size are written, and files up to it read, in the calling task.
const INLINE_MAX: usize = 64 * 1024;

/// Runs `op`, an operation's whole series of file calls: in the calling task when `small`
/// (on a local disk a few calls on a small file take less time than waking another thread
/// for them, which is most of a small write's cost otherwise), else on the blocking pool.
async fn run<T: Send + 'static>(
    key: &str,
    small: bool,
    op: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    let done = match small {
        true => op(),
        false => tokio::task::spawn_blocking(op)
            .await
            .map_err(|e| StoreError::Backend(format!("{key}: {e}")))?,
    };
    done.map_err(io_err(key))
}

/// As [`run`], on the blocking pool.
async fn blocking<T: Send + 'static>(
    key: &str,
    op: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    run(key, false, op).await
}

/// Runs `op`, which names `path`; if it failed for want of `path`'s directory, makes the
/// directory and runs it again. Directories exist for all but a key's first write, and
/// for a write racing the removal of its emptied folder ([`remove_emptied`]): tried again
/// a few times for that.
fn in_dir<T>(
    spares: &Spares,
    path: &Path,
    mut op: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut tries = 0;
    loop {
        match op() {
            Err(e) if e.kind() == ErrorKind::NotFound && tries < 8 => {
                tries += 1;
                if let Some(parent) = path.parent() {
                    // A folder above may go while this one is made: that is one more try.
                    match spares.make_dir(parent) {
                        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
            }
            done => return done,
        }
    }
}

/// Removes the folders above `path` that its removal left empty, up to the store's root:
/// the data directory holds the folders of what is stored, not of all it ever held, and
/// the walks over it stay as short as what it holds.
fn remove_emptied(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(folder) = dir.filter(|d| *d != root && d.starts_with(root)) {
        // Fails, and stops the climb, at the first folder that holds anything.
        if std::fs::remove_dir(folder).is_err() {
            return;
        }
        dir = folder.parent();
    }
}

/// One page of the sorted `keys`: up to `max` after `start_after`.
pub(super) fn page_of(keys: Vec<String>, start_after: Option<&str>, max: usize) -> Vec<String> {
    let from = match start_after {
        Some(after) => keys.partition_point(|k| k.as_str() <= after),
        None => 0,
    };
    keys.into_iter().skip(from).take(max).collect()
}

/// Treats a missing file as `None`.
fn found<T>(result: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl Store for LocalStore {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let (path, spares) = (self.path(key)?, self.spares.clone());
        let listings = self.listings.clone();
        if body.is_empty() {
            // An empty file cannot be seen torn: made, or emptied, in place.
            return run(key, true, move || {
                listings.placing(&path, || {
                    in_dir(&spares, &path, || spares.place_empty(&path))
                })
            })
            .await;
        }
        run(key, body.len() <= INLINE_MAX, move || {
            let tmp = spares.write(&body)?;
            let placed =
                listings.placing(&path, || in_dir(&spares, &path, || replace(&tmp, &path)));
            if placed.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            placed
        })
        .await
    }

    async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        let (path, spares) = (self.path(key)?, self.spares.clone());
        let listings = self.listings.clone();
        run(key, body.len() <= INLINE_MAX, move || {
            let tmp = spares.write(&body)?;
            let placed =
                listings.placing(&path, || in_dir(&spares, &path, || place_new(&tmp, &path)));
            if placed.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            match placed {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }

    fn appends(&self) -> bool {
        true
    }

    async fn copy(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let (src, dst, tmp) = (self.path(from)?, self.path(to)?, self.tmp_path());
        let (spares, listings) = (self.spares.clone(), self.listings.clone());
        blocking(to, move || {
            // Copied beside it and renamed into place: readers see all of it or none.
            let copied = match std::fs::copy(&src, &tmp) {
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
                copied => copied.and_then(|_| {
                    listings.placing(&dst, || {
                        in_dir(&spares, &dst, || std::fs::rename(&tmp, &dst))
                    })
                }),
            };
            if copied.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            copied.map(|()| true)
        })
        .await
    }

    async fn append(&self, key: &str, tail: Bytes, offset: usize) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        let (path, spares) = (self.path(key)?, self.spares.clone());
        let listings = self.listings.clone();
        run(key, tail.len() <= INLINE_MAX, move || {
            let file = listings.placing(&path, || {
                in_dir(&spares, &path, || {
                    private().create(true).truncate(false).open(&path)
                })
            })?;
            // Bytes before `offset` are final; a reader of the growing file sees a prefix.
            file.set_len(offset as u64)?;
            file.write_all_at(&tail, offset as u64)
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        use std::io::Read;
        let path = self.path(key)?;
        let Some(file) = run(key, true, move || found(std::fs::File::open(path))).await? else {
            return Ok(None);
        };
        let size = file.metadata().map_err(io_err(key))?.len() as usize;
        let body = run(key, size <= INLINE_MAX, move || {
            // Room for one byte more, so that the read that finds the end has room to
            // look; through `take`, which asks the file for its size no second time.
            let mut body = Vec::with_capacity(size + 1);
            file.take(u64::MAX).read_to_end(&mut body).map(|_| body)
        })
        .await?;
        Ok(Some(body.into()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        if prefix.contains("..") || prefix.contains('\\') {
            return Err(StoreError::BadKey(prefix.to_owned()));
        }
        // Walk only the deepest directory the prefix names.
        let dir_part = prefix[..prefix.rfind('/').unwrap_or(0)].to_owned();
        let root = self.root.clone();
        let wanted = prefix.to_owned();
        blocking(prefix, move || {
            let mut keys = Vec::new();
            walk(&root, &root.join(&dir_part), &wanted, &mut keys)?;
            keys.sort();
            Ok(keys)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        // Freeing a big file's blocks can take a while: only a small one goes in place.
        let size = run(key, true, {
            let path = path.clone();
            move || found(std::fs::symlink_metadata(path))
        })
        .await?
        .map(|meta| meta.len());
        let Some(size) = size else {
            return Ok(());
        };
        let (root, listings) = (self.root.clone(), self.listings.clone());
        run(key, size <= INLINE_MAX as u64, move || {
            listings.removing(&path, || found(std::fs::remove_file(&path)))?;
            remove_emptied(&root, &path);
            Ok(())
        })
        .await
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        // A folder's own entries, from where a page of it began: its names alone are
        // needed, and the store keeps them sorted.
        let folder = prefix.strip_suffix('/').filter(|_| {
            start_after.is_none_or(|after| {
                after
                    .strip_prefix(prefix)
                    .is_some_and(|name| !name.contains('/'))
            })
        });
        let Some(folder) = folder else {
            let keys = self.list(prefix).await?;
            return Ok(page_of(keys, start_after, max));
        };
        let dir = self.path(folder)?;
        let after = start_after.map(|a| a[prefix.len()..].to_owned());
        let listings = self.listings.clone();
        let names = blocking(prefix, move || listings.page(&dir, after.as_deref(), max)).await?;
        match names {
            Some(names) => Ok(names.into_iter().map(|n| format!("{prefix}{n}")).collect()),
            None => {
                let keys = self.list(prefix).await?;
                Ok(page_of(keys, start_after, max))
            }
        }
    }

    async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        run(key, true, move || {
            let meta = found(std::fs::metadata(&path))?;
            Ok(meta.filter(|m| m.is_file()).map(|m| m.len()))
        })
        .await
    }

    async fn download(&self, key: &str, path: &Path) -> Result<bool, StoreError> {
        let (from, to) = (self.path(key)?, path.to_owned());
        blocking(key, move || {
            let Some(mut from) = found(std::fs::File::open(&from))? else {
                return Ok(false);
            };
            let mut to = std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(&to)?;
            std::io::copy(&mut from, &mut to)?;
            Ok(true)
        })
        .await
    }

    async fn upload(&self, key: &str, file: tokio::fs::File) -> Result<(), StoreError> {
        let stream = tokio_util::io::ReaderStream::new(file);
        self.put_stream(key, stream, u64::MAX).await.map(|_| ())
    }

    async fn presign_put(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        self.signed_url("PUT", key, ttl)
    }

    async fn presign_get(
        &self,
        key: &str,
        _range_start: Option<u64>,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        self.signed_url("GET", key, ttl)
    }
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str() else { continue };
        if rel == TMP_DIR || rel == crate::secrets::local::SECRETS_DIR {
            continue;
        }
        if entry.file_type()?.is_dir() {
            let as_dir = format!("{rel}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(root, &path, prefix, out)?;
            }
        } else if rel.starts_with(prefix) {
            out.push(rel.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_data_dir() {
        for bad in [
            "",
            "../x",
            "a/../b",
            "/abs",
            "a//b",
            "a/./b",
            ".tmp/x",
            "a\\b",
            ".secrets/alice.json",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key("jobs/alice/1.x/log.txt").is_ok());
    }

    /// A page of a folder of 10 000 costs a page, not the folder: after the first, pages
    /// are answered without reading the folder again, the store's own writes included; a
    /// file placed from outside makes the next page read it again.
    #[tokio::test]
    async fn a_page_of_a_long_folder_does_not_read_the_folder_again() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let folder = dir.path().join("index/alice");
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..10_000 {
            std::fs::write(folder.join(format!("{i:05}")), b"").unwrap();
        }
        let reads = || store.listings.reads.load(Ordering::Relaxed);
        let page = store.list_page("index/alice/", None, 20).await.unwrap();
        assert_eq!(page.len(), 20);
        assert_eq!(page[0], "index/alice/00000");
        assert_eq!(reads(), 1);
        let next = store
            .list_page("index/alice/", Some("index/alice/09990"), 20)
            .await
            .unwrap();
        assert_eq!(next.len(), 9);
        store.put("index/alice/0000", Bytes::new()).await.unwrap();
        store.delete("index/alice/00001").await.unwrap();
        let page = store.list_page("index/alice/", None, 3).await.unwrap();
        assert_eq!(
            page,
            ["index/alice/0000", "index/alice/00000", "index/alice/00002"]
        );
        assert_eq!(reads(), 1, "the store's own writes kept its listing true");

        // Past the file system's clock tick, so the folder's time moves.
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(folder.join("000"), b"").unwrap();
        let page = store.list_page("index/alice/", None, 1).await.unwrap();
        assert_eq!(page, ["index/alice/000"]);
        assert_eq!(reads(), 2);

        // A file from outside, then one of the store's own before any page: the store's
        // write does not vouch for names it did not see.
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(folder.join("00"), b"").unwrap();
        store.put("index/alice/0", Bytes::new()).await.unwrap();
        let page = store.list_page("index/alice/", None, 2).await.unwrap();
        assert_eq!(page, ["index/alice/0", "index/alice/00"]);
    }
}
