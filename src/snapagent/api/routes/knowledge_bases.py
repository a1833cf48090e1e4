"""Knowledge bases, document upload and status, a document's chunks, and the retrieval test
endpoint.

Uploads are multipart (field ``file``, optional ``title``). The app's body limit stops an
oversized upload while it streams in (413 before the whole body is read); the file itself is
then checked against the exact limit, and its type decides 415.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from snapagent.api.deps import CurrentUser, Knowledge, PageQuery
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import problem_responses
from snapagent.api.schemas.knowledge import (
    ChunkPublic,
    ChunksPublic,
    DocumentPublic,
    DocumentsPublic,
    KnowledgeBaseCreate,
    KnowledgeBasePublic,
    KnowledgeBasesPublic,
    QueryRequest,
    QueryResult,
    QueryResults,
)
from snapagent.errors import PayloadTooLargeError
from snapagent.services.knowledge import DocumentInfo

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/knowledge-bases",
    tags=["knowledge-bases"],
    responses=problem_responses(401, 422),
)
_NOT_FOUND = problem_responses(404)


def document_public(info: DocumentInfo) -> DocumentPublic:
    data = asdict(info)
    total = info.chunks_total
    data["progress"] = (
        1.0 if info.status == "indexed" else (info.chunks_done / total if total else 0.0)
    )
    return DocumentPublic(**data)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a knowledge base")
async def create_knowledge_base(
    body: KnowledgeBaseCreate, user: CurrentUser, knowledge: Knowledge
) -> KnowledgeBasePublic:
    """Create a knowledge base (names are unique per account: 409)."""
    info = await knowledge.create_knowledge_base(
        user.id,
        body.name,
        description=body.description,
        embedding_model=body.embedding_model,
        chunk_max_tokens=body.chunk_max_tokens,
        chunk_overlap_tokens=body.chunk_overlap_tokens,
    )
    return KnowledgeBasePublic(**asdict(info))


@router.get("", summary="List your knowledge bases, by name")
async def list_knowledge_bases(
    user: CurrentUser, knowledge: Knowledge, page: PageQuery
) -> KnowledgeBasesPublic:
    """The caller's knowledge bases with document counts, a page at a time."""
    rows, next_cursor = await knowledge.knowledge_base_page(
        user.id, limit=page.limit, cursor=page.cursor
    )
    data = [KnowledgeBasePublic(**asdict(i)) for i in rows]
    return KnowledgeBasesPublic(data=data, next_cursor=next_cursor)


@router.get("/{kb_id}", responses=_NOT_FOUND, summary="Get a knowledge base")
async def get_knowledge_base(
    kb_id: str, user: CurrentUser, knowledge: Knowledge
) -> KnowledgeBasePublic:
    """One knowledge base of the caller."""
    return KnowledgeBasePublic(**asdict(await knowledge.get_knowledge_base(user.id, kb_id)))


@router.delete(
    "/{kb_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_NOT_FOUND, **problem_responses(409)},
    summary="Delete a knowledge base with its documents (409 listing the bots that use it)",
)
async def delete_knowledge_base(
    kb_id: str,
    user: CurrentUser,
    knowledge: Knowledge,
    force: Annotated[
        bool,
        Query(
            description="Delete even while bots use it: their settings drop it, untouched "
            "generated drafts are regenerated, other versions retrieve nothing from it."
        ),
    ] = False,
) -> Response:
    """Delete a knowledge base with its documents and chunks. If a bot or a workflow version uses
    it, 409 lists them unless `force` detaches it."""
    await knowledge.delete_knowledge_base(user.id, kb_id, force=force)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{kb_id}/documents",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": DocumentPublic,
            "description": "Identical content was already uploaded: the existing document "
            "(`created` false; its note says what was kept). Nothing new is stored.",
        },
        **_NOT_FOUND,
        **problem_responses(413, 415),
    },
    summary="Upload a document (queued for ingestion)",
)
async def upload_document(
    kb_id: str,
    user: CurrentUser,
    knowledge: Knowledge,
    response: Response,
    file: Annotated[UploadFile, File(description="PDF, DOCX, HTML, Markdown or text.")],
    title: Annotated[
        str | None,
        Form(
            max_length=500,
            description="The document's title, cited in answers (at most 500 characters); "
            "omitted: a title found in the file, else the file name.",
        ),
    ] = None,
) -> DocumentPublic:
    """Upload a file (multipart `file`): text, Markdown, HTML, PDF or DOCX. It is checked as it
    arrives (size, type, readable text) and then ingested in the background; poll its `status`."""
    limit = knowledge.settings.max_upload_bytes
    # Starlette spooled the part to disk past 1 MB; check its size before reading it.
    if file.size is not None and file.size > limit:
        raise PayloadTooLargeError(f"the file is {file.size} bytes; the limit is {limit}")
    data = await file.read(limit + 1)
    info = await knowledge.add_document(
        user.id,
        kb_id,
        file.filename or "upload",
        data,
        content_type=file.content_type,
        title=title,
    )
    if not info.created:
        response.status_code = status.HTTP_200_OK  # identical content: the existing document
    return document_public(info)


@router.get(
    "/{kb_id}/documents", responses=_NOT_FOUND, summary="List documents with status, oldest first"
)
async def list_documents(
    kb_id: str, user: CurrentUser, knowledge: Knowledge, page: PageQuery
) -> DocumentsPublic:
    """The knowledge base's documents with their ingestion status and progress, a page at a time."""
    rows, next_cursor = await knowledge.document_page(
        user.id, kb_id, limit=page.limit, cursor=page.cursor
    )
    return DocumentsPublic(data=[document_public(d) for d in rows], next_cursor=next_cursor)


@router.get(
    "/{kb_id}/documents/{document_id}", responses=_NOT_FOUND, summary="One document's status"
)
async def get_document(
    kb_id: str, document_id: str, user: CurrentUser, knowledge: Knowledge
) -> DocumentPublic:
    """One document's status (queued, parsing, chunking, embedding, indexed or failed with the
    reason)."""
    return document_public(await knowledge.get_document(user.id, kb_id, document_id))


@router.get(
    "/{kb_id}/documents/{document_id}/chunks",
    responses=_NOT_FOUND,
    summary="List a document's chunks, in reading order",
)
async def list_chunks(
    kb_id: str, document_id: str, user: CurrentUser, knowledge: Knowledge, page: PageQuery
) -> ChunksPublic:
    """The chunks retrieval searches for this document (text, heading path, token count and
    where each sits in the extracted text), a page at a time. Empty until the document is first
    indexed; while it is indexed again, the previous chunks until the new ones replace them."""
    rows, next_cursor = await knowledge.chunk_page(
        user.id, kb_id, document_id, limit=page.limit, cursor=page.cursor
    )
    return ChunksPublic(data=[ChunkPublic(**asdict(c)) for c in rows], next_cursor=next_cursor)


@router.delete(
    "/{kb_id}/documents/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_NOT_FOUND,
    summary="Delete a document with its chunks",
)
async def delete_document(
    kb_id: str, document_id: str, user: CurrentUser, knowledge: Knowledge
) -> Response:
    """Delete a document with its chunks."""
    await knowledge.delete_document(user.id, kb_id, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{kb_id}/documents/{document_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_NOT_FOUND, **problem_responses(409)},
    summary="Ingest a failed (or re-index an indexed) document again",
)
async def retry_document(
    kb_id: str, document_id: str, user: CurrentUser, knowledge: Knowledge
) -> DocumentPublic:
    """Ingest a failed document again (or re-index an indexed one)."""
    return document_public(await knowledge.retry_document(user.id, kb_id, document_id))


@router.post("/{kb_id}/query", responses=_NOT_FOUND, summary="Retrieval test")
async def query_knowledge_base(
    kb_id: str, body: QueryRequest, user: CurrentUser, knowledge: Knowledge
) -> QueryResults:
    """Run a retrieval as a knowledge node would (hybrid, keyword or vector) and return the scored
    chunks."""
    found = await knowledge.query(
        user.id,
        [kb_id],
        body.query,
        top_k=body.top_k,
        mode=body.mode,
        score_threshold=body.score_threshold,
        document_ids=body.document_ids,
    )
    # Ranked hits (top_k of them), one page: next_cursor is always null.
    return QueryResults(data=[QueryResult(**doc.to_dict()) for doc in found], next_cursor=None)
