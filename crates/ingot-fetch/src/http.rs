//! HTTP transfers: resume with Range (and If-Range), retries with backoff, streaming hash.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::error::FetchError;
use crate::report::{Progress, Reporter};
use crate::validator::{record, Validator};
use crate::Downloader;

/// One HTTP transfer into a partial file.
pub(crate) struct HttpJob<'a> {
    pub alias: &'a str,
    pub source_desc: &'a str,
    pub url: reqwest::Url,
    /// `Authorization` value, sent to `url`'s origin only (reqwest drops it on
    /// cross-origin redirects, e.g. to the hub's CDN).
    pub auth: Option<String>,
    pub partial: &'a Path,
    /// Where the server's version of the partial's file is recorded (see [`Validator`]).
    pub validator: &'a Path,
    pub expected_size: Option<u64>,
}

/// What went wrong with one request: decides whether to retry.
enum Attempt {
    /// Worth retrying (connection errors, timeouts, dropped bodies, 5xx, 408, 429).
    Transient { detail: String, status: Option<u16> },
    /// Not worth retrying.
    Fatal(FetchError),
}

impl Downloader {
    /// Downloads `job.url` into `job.partial`, resuming from what it already holds.
    /// Returns (sha256 hex, size) of the complete partial.
    pub(crate) async fn http_fetch(
        &self,
        job: &HttpJob<'_>,
        reporter: &dyn Reporter,
    ) -> Result<(String, u64), FetchError> {
        let display_url = crate::redact_url(job.url.as_str());
        let cache_err = |error| FetchError::Cache {
            alias: job.alias.to_string(),
            error,
        };
        let partial = job.partial.to_path_buf();

        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&partial)
            .map_err(|e| cache_err(ingot_cache::CacheError::from_io(&partial, e)))?;
        let mut existing = file
            .metadata()
            .map_err(|e| cache_err(ingot_cache::CacheError::from_io(&partial, e)))?
            .len();
        if job.expected_size.is_some_and(|size| existing > size) {
            // Longer than the file can be: not a prefix of it.
            truncate(&mut file, &partial).map_err(cache_err)?;
            existing = 0;
        }
        // Resuming: hash what an earlier run wrote, so that the final hash covers the
        // whole file without reading it twice. On the blocking pool: it can be gigabytes.
        let (mut file, mut hasher) = hash_prefix(file, partial.clone(), existing)
            .await
            .map_err(cache_err)?;
        let mut done = existing;
        let mut validator = if existing > 0 {
            reporter.message(&format!(
                "resuming download of '{}' at byte {existing}",
                job.alias
            ));
            Validator::load(job.validator, &job.url)
        } else {
            record(job.validator, None);
            None
        };

        let mut failures: u32 = 0;
        let mut requests: u32 = 0;
        loop {
            if job
                .expected_size
                .is_some_and(|size| size == done && size > 0)
            {
                break; // complete already (an earlier run was stopped before committing)
            }
            requests += 1;
            let before = done;
            let result = self
                .http_attempt(
                    job,
                    &display_url,
                    &mut file,
                    &partial,
                    &mut hasher,
                    &mut done,
                    &mut validator,
                    reporter,
                )
                .await;
            let (detail, status) = match result {
                Ok(()) => break,
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Transient { detail, status }) => (detail, status),
            };
            // A transfer that made progress is not a failure of the same kind as one
            // that could not connect: big files on flaky links need many resumes.
            if done > before {
                failures = 0;
            }
            failures += 1;
            if failures >= self.options.max_attempts.max(1) {
                return Err(match status {
                    Some(status) => FetchError::HttpStatus {
                        alias: job.alias.to_string(),
                        source_desc: job.source_desc.to_string(),
                        url: display_url,
                        status,
                        attempts: requests,
                    },
                    None => FetchError::Network {
                        alias: job.alias.to_string(),
                        source_desc: job.source_desc.to_string(),
                        url: display_url,
                        attempts: requests,
                        detail,
                    },
                });
            }
            let delay = self.backoff(failures);
            reporter.message(&format!(
                "'{}': {detail}; retrying in {:.1}s (attempt {} of {})",
                job.alias,
                delay.as_secs_f64(),
                failures + 1,
                self.options.max_attempts
            ));
            tokio::time::sleep(delay).await;
        }
        file.sync_all()
            .map_err(|e| cache_err(ingot_cache::CacheError::from_io(&partial, e)))?;
        Ok((hex::encode(hasher.finalize()), done))
    }

    /// Exponential backoff: base, 2×base, 4×base... capped at `backoff_max`.
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        self.options
            .backoff_base
            .saturating_mul(factor)
            .min(self.options.backoff_max)
    }

    #[allow(clippy::too_many_arguments)]
    async fn http_attempt(
        &self,
        job: &HttpJob<'_>,
        display_url: &str,
        file: &mut File,
        partial: &Path,
        hasher: &mut Sha256,
        done: &mut u64,
        validator: &mut Option<Validator>,
        reporter: &dyn Reporter,
    ) -> Result<(), Attempt> {
        let fatal = |e: FetchError| Attempt::Fatal(e);
        let write_err = |e: std::io::Error| {
            Attempt::Fatal(FetchError::Cache {
                alias: job.alias.to_string(),
                error: ingot_cache::CacheError::from_io(partial, e),
            })
        };
        let mut req = self.client.get(job.url.clone());
        if let Some(auth) = &job.auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        let mut if_range = None;
        if *done > 0 {
            req = req.header(header::RANGE, format!("bytes={}-", *done));
            // The rest of the same version, or (a 200) the whole of the current one.
            if_range = validator.as_ref().and_then(Validator::if_range);
            if let Some(v) = &if_range {
                req = req.header(header::IF_RANGE, v.clone());
            }
        }
        // Starting over (below) discards the partial, and with it what described it.
        let restart = |file: &mut File, hasher: &mut Sha256, done: &mut u64, v: &mut Option<_>| {
            truncate(file, partial).map_err(|e| Box::new(Attempt::Fatal(cache(job.alias, e))))?;
            *hasher = Sha256::new();
            *done = 0;
            *v = None;
            record(job.validator, None);
            Ok::<(), Box<Attempt>>(())
        };
        let resp = req.send().await.map_err(|e| {
            if e.is_redirect() {
                // A loop loops again on retry: report it at once, as what it is.
                Attempt::Fatal(FetchError::RedirectLoop {
                    alias: job.alias.to_string(),
                    source_desc: job.source_desc.to_string(),
                    url: display_url.to_string(),
                    max: crate::MAX_REDIRECTS as u32,
                })
            } else {
                Attempt::Transient {
                    detail: describe(&e),
                    status: None,
                }
            }
        })?;
        let status = resp.status();
        let http_error = |status: StatusCode| {
            let (alias, source_desc, url, code) = (
                job.alias.to_string(),
                job.source_desc.to_string(),
                display_url.to_string(),
                status.as_u16(),
            );
            match status {
                StatusCode::NOT_FOUND | StatusCode::GONE => Attempt::Fatal(FetchError::NotFound {
                    alias,
                    source_desc,
                    url,
                    status: code,
                }),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Attempt::Fatal(FetchError::Unauthorized {
                        alias,
                        source_desc,
                        url,
                        status: code,
                    })
                }
                s if s.is_server_error()
                    || s == StatusCode::REQUEST_TIMEOUT
                    || s == StatusCode::TOO_MANY_REQUESTS =>
                {
                    Attempt::Transient {
                        detail: format!("HTTP {code}"),
                        status: Some(code),
                    }
                }
                _ => Attempt::Fatal(FetchError::HttpStatus {
                    alias,
                    source_desc,
                    url,
                    status: code,
                    attempts: 1,
                }),
            }
        };

        let total = match status {
            StatusCode::PARTIAL_CONTENT => {
                let range = content_range(resp.headers());
                match range {
                    Some((start, total))
                        if start == *done
                            && validator
                                .as_ref()
                                .and_then(Validator::total)
                                .zip(total)
                                .is_none_or(|(was, is)| was == is) =>
                    {
                        if validator.is_none() {
                            // A partial from before validators were kept: from now on.
                            *validator = Validator::from_response(&job.url, resp.headers(), total);
                            record(job.validator, validator.as_ref());
                        }
                        total
                    }
                    Some((start, _)) if start == *done => {
                        // The file's length changed since the partial was started (a server
                        // without ETags, or one that ignores If-Range): not the same file.
                        restart(file, hasher, done, validator).map_err(|e| *e)?;
                        return Err(Attempt::Transient {
                            detail: "the file changed on the server; restarting".into(),
                            status: None,
                        });
                    }
                    _ => {
                        // Not the range we asked for: start over rather than splice.
                        restart(file, hasher, done, validator).map_err(|e| *e)?;
                        return Err(Attempt::Transient {
                            detail: "server answered with an unexpected range".into(),
                            status: None,
                        });
                    }
                }
            }
            StatusCode::OK => {
                if *done > 0 {
                    // The whole file instead of the rest: with If-Range, because it changed
                    // since the partial was started; otherwise the server ignores Range.
                    // Either way, restart from 0 with what this response sends.
                    reporter.message(&if if_range.is_some() {
                        format!(
                            "'{}': the file changed on the server since the download started; \
                             restarting",
                            job.alias
                        )
                    } else {
                        format!(
                            "'{}': the server does not support resuming; restarting",
                            job.alias
                        )
                    });
                    restart(file, hasher, done, validator).map_err(|e| *e)?;
                }
                let total = resp.content_length();
                *validator = Validator::from_response(&job.url, resp.headers(), total);
                record(job.validator, validator.as_ref());
                total
            }
            StatusCode::RANGE_NOT_SATISFIABLE if *done > 0 => {
                let total = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes */"))
                    .and_then(|v| v.parse::<u64>().ok());
                if total == Some(*done) {
                    return Ok(()); // we already have all of it
                }
                restart(file, hasher, done, validator).map_err(|e| *e)?;
                return Err(Attempt::Transient {
                    detail: "the partial file does not match the server's file".into(),
                    status: None,
                });
            }
            s => return Err(http_error(s)),
        };
        if let (Some(expected), Some(total)) = (job.expected_size, total) {
            if expected != total {
                return Err(fatal(FetchError::SizeMismatch {
                    alias: job.alias.to_string(),
                    source_desc: job.source_desc.to_string(),
                    expected,
                    actual: total,
                }));
            }
        }
        let total = total.or(job.expected_size);

        let mut progress = Progress::start(reporter, total, *done);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Attempt::Transient {
                detail: describe(&e),
                status: None,
            })?;
            if total.is_some_and(|t| *done + chunk.len() as u64 > t) {
                return Err(fatal(FetchError::SizeMismatch {
                    alias: job.alias.to_string(),
                    source_desc: job.source_desc.to_string(),
                    expected: total.unwrap_or_default(),
                    actual: *done + chunk.len() as u64,
                }));
            }
            // Plain blocking writes: they land in the page cache in microseconds, and
            // keeping the file length equal to the hashed length at every await point
            // is what makes a killed or cancelled download resumable.
            file.write_all(&chunk).map_err(write_err)?;
            hasher.update(&chunk);
            *done += chunk.len() as u64;
            progress.update(*done);
        }
        if let Some(t) = total {
            if *done < t {
                return Err(Attempt::Transient {
                    detail: format!("connection closed after {} of {t} bytes", *done),
                    status: None,
                });
            }
        }
        Ok(())
    }

    /// Asks the hub for the file's SHA-256 and size without downloading it: a HEAD on the
    /// resolve URL, without following the redirect to the CDN, answers with
    /// `X-Linked-Etag` (the LFS object's SHA-256) and `X-Linked-Size`.
    pub(crate) async fn hf_linked_etag(
        &self,
        url: &reqwest::Url,
        auth: Option<&str>,
    ) -> (Option<String>, Option<u64>) {
        let mut req = self.no_redirect_client.head(url.clone());
        if let Some(auth) = auth {
            req = req.header(header::AUTHORIZATION, auth);
        }
        let Ok(resp) = req.send().await else {
            return (None, None); // the GET will report the problem properly
        };
        let h = resp.headers();
        let etag = ["x-linked-etag", "etag"].iter().find_map(|name| {
            let v = h.get(*name)?.to_str().ok()?;
            let v = v.trim().trim_start_matches("W/").trim_matches('"');
            ingot_catalog::is_sha256_hex(v).then(|| v.to_ascii_lowercase())
        });
        let size = h
            .get("x-linked-size")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        (etag, size)
    }
}

fn cache(alias: &str, error: ingot_cache::CacheError) -> FetchError {
    FetchError::Cache {
        alias: alias.to_string(),
        error,
    }
}

fn truncate(file: &mut File, path: &Path) -> Result<(), ingot_cache::CacheError> {
    file.set_len(0)
        .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()))
        .map_err(|e| ingot_cache::CacheError::from_io(path, e))
}

/// Hashes the first `len` bytes of `file` (its length when opened) and leaves it
/// positioned at the end of what was hashed.
async fn hash_prefix(
    mut file: File,
    path: PathBuf,
    len: u64,
) -> Result<(File, Sha256), ingot_cache::CacheError> {
    tokio::task::spawn_blocking(move || {
        let mut hasher = Sha256::new();
        file.seek(SeekFrom::Start(0))
            .map_err(|e| ingot_cache::CacheError::from_io(&path, e))?;
        let mut buf = vec![0u8; 1024 * 1024];
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = file
                .read(&mut buf[..want])
                .map_err(|e| ingot_cache::CacheError::from_io(&path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        if left > 0 {
            // The file shrank under us: keep only what was hashed.
            file.set_len(len - left)
                .map_err(|e| ingot_cache::CacheError::from_io(&path, e))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| ingot_cache::CacheError::from_io(&path, e))?;
        Ok((file, hasher))
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Parses `Content-Range: bytes START-END/TOTAL` into (START, Some(TOTAL)) (TOTAL may be `*`).
fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    Some((start.parse().ok()?, total))
}

/// A reqwest error as text, with its causes, without the URL (which may carry a signed
/// CDN query string).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "transfer interrupted"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_RANGE, "bytes 100-199/200".parse().unwrap());
        assert_eq!(content_range(&h), Some((100, Some(200))));
        h.insert(header::CONTENT_RANGE, "bytes 5-9/*".parse().unwrap());
        assert_eq!(content_range(&h), Some((5, None)));
        h.insert(header::CONTENT_RANGE, "garbage".parse().unwrap());
        assert_eq!(content_range(&h), None);
    }
}
