//! Forms with files (`multipart/form-data`): the requester's reply and the public form.

use std::collections::BTreeMap;

use axum::extract::Multipart;
use axum::response::{IntoResponse, Response};

/// A file sent with a form: its name, its type and its bytes.
#[derive(Debug, Clone)]
pub(super) struct UploadedFile {
    pub(super) filename: String,
    pub(super) content_type: String,
    pub(super) bytes: Vec<u8>,
}

/// A form's text fields by name (the last of a name wins) and the files of its `files` input.
pub(super) struct Posted {
    pub(super) fields: BTreeMap<String, String>,
    pub(super) files: Vec<UploadedFile>,
}

impl Posted {
    pub(super) fn take(&mut self, name: &str) -> String {
        self.fields.remove(name).unwrap_or_default()
    }
}

/// Reads the whole form; a body over the route's limit or a broken one is an error answer.
pub(super) async fn read(mut multipart: Multipart) -> Result<Posted, Response> {
    let mut posted = Posted {
        fields: BTreeMap::new(),
        files: Vec::new(),
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(posted),
            Err(error) => return Err((error.status(), error.body_text()).into_response()),
        };
        let name = field.name().unwrap_or("").to_string();
        let filename = field.file_name().map(str::to_string);
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return Err((error.status(), error.body_text()).into_response()),
        };
        match (name.as_str(), filename) {
            // A file input left empty sends a part with no file name and no bytes.
            ("files", Some(filename)) if !filename.is_empty() || !bytes.is_empty() => {
                posted.files.push(UploadedFile {
                    filename,
                    content_type,
                    bytes: bytes.to_vec(),
                })
            }
            ("files", _) => {}
            _ => {
                posted
                    .fields
                    .insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
}

/// Puts the files in the attachment store (by their SHA-256) and describes them.
pub(super) fn store_files(
    blobs: &crate::adapters::blobs::BlobStore,
    files: Vec<UploadedFile>,
) -> std::io::Result<Vec<crate::core::mail::AttachmentMeta>> {
    files
        .into_iter()
        .map(|file| {
            let sha256 = crate::core::hex(&<sha2::Sha256 as sha2::Digest>::digest(&file.bytes));
            blobs.put(&sha256, "", &file.bytes, false)?;
            Ok(crate::core::mail::AttachmentMeta {
                filename: file.filename,
                content_type: file.content_type,
                size: file.bytes.len() as u64,
                sha256,
            })
        })
        .collect()
}
