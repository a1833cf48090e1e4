// Multipart upload with progress: fetch cannot report upload progress, XMLHttpRequest can.
import { authHeaders, type Schemas } from "./client";
import { toApiError } from "./problem";

export type DocumentPublic = Schemas["DocumentPublic"];

export function uploadDocument(
  kbId: string,
  file: File,
  onProgress: (fraction: number) => void,
): Promise<DocumentPublic> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/v1/knowledge-bases/${encodeURIComponent(kbId)}/documents`);
    for (const [name, value] of Object.entries(authHeaders())) {
      request.setRequestHeader(name, value);
    }
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      let body: unknown = request.responseText;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        // not JSON: keep the text for the error message
      }
      if (request.status >= 200 && request.status < 300) {
        resolve(body as DocumentPublic);
      } else {
        reject(toApiError(new Response(null, { status: request.status }), body));
      }
    };
    request.onerror = () => {
      reject(new Error("network error"));
    };
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}
