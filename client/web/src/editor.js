// The Tiptap editor bound to the document's `default` fragment, with carets and own-only undo.
import { Editor, Extension } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { h } from './dom.js'
import { t } from './i18n.js'

// The server gives these blocks a stable `id` (comments hang on it). Declared here so that
// y-prosemirror keeps the attribute instead of dropping it; shown as data-id.
export const ID_TYPES = ['heading', 'paragraph', 'bulletList', 'orderedList', 'listItem']

const BlockIds = Extension.create({
  name: 'palabreBlockIds',
  addGlobalAttributes () {
    return [{
      types: ID_TYPES,
      attributes: {
        id: {
          default: null,
          parseHTML: (element) => element.getAttribute('data-id'),
          renderHTML: (attributes) => (attributes.id ? { 'data-id': attributes.id } : {}),
        },
      },
    }]
  },
})

export function createEditor ({ element, ydoc, provider, user, colour }) {
  return new Editor({
    element,
    editable: false,
    extensions: [
      StarterKit.configure({
        undoRedo: false, // Collaboration brings its own undo, limited to this user's changes
        blockquote: false,
        codeBlock: false,
        horizontalRule: false,
        strike: false,
        underline: false,
        trailingNode: false, // would add an empty paragraph to the shared text from every client
        heading: { levels: [1, 2, 3] },
        link: { openOnClick: false, autolink: true, protocols: ['http', 'https', 'mailto'] },
      }),
      BlockIds,
      Collaboration.configure({ document: ydoc, field: 'default' }),
      CollaborationCaret.configure({ provider, user: { name: user.name || '?', color: colour } }),
    ],
    editorProps: {
      attributes: { 'aria-label': t.editor, 'aria-multiline': 'true', role: 'textbox', class: 'prose' },
    },
  })
}

const TOOLS = [
  { key: 'bold', label: () => t.bold, text: 'B', run: (c) => c.toggleBold(), active: (e) => e.isActive('bold') },
  { key: 'italic', label: () => t.italic, text: 'I', run: (c) => c.toggleItalic(), active: (e) => e.isActive('italic') },
  { key: 'heading', label: () => t.heading, text: 'H2', run: (c) => c.toggleHeading({ level: 2 }), active: (e) => e.isActive('heading', { level: 2 }) },
  { key: 'paragraph', label: () => t.paragraph, text: '¶', run: (c) => c.setParagraph(), active: (e) => e.isActive('paragraph') },
  { key: 'bulletList', label: () => t.bulletList, text: '•', run: (c) => c.toggleBulletList(), active: (e) => e.isActive('bulletList') },
  { key: 'orderedList', label: () => t.orderedList, text: '1.', run: (c) => c.toggleOrderedList(), active: (e) => e.isActive('orderedList') },
  {
    key: 'link',
    label: () => t.link,
    text: '↗',
    run: (c, e) => {
      const previous = e.getAttributes('link').href || 'https://'
      const href = window.prompt(t.linkPrompt, previous)
      if (href === null) return c
      return href === '' ? c.unsetLink() : c.extendMarkRange('link').setLink({ href })
    },
    active: (e) => e.isActive('link'),
  },
  { key: 'undo', label: () => t.undo, text: '↶', run: (c) => c.undo(), active: () => false },
  { key: 'redo', label: () => t.redo, text: '↷', run: (c) => c.redo(), active: () => false },
]

export function createToolbar (editor) {
  const buttons = TOOLS.map((tool) => h('button', {
    type: 'button',
    class: 'tool',
    'data-tool': tool.key,
    'aria-label': tool.label(),
    title: tool.label(),
    onClick: () => { tool.run(editor.chain().focus(), editor).run() },
  }, tool.text))
  const bar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': t.toolbar }, buttons)
  const refresh = () => {
    const editable = editor.isEditable
    bar.hidden = !editable
    TOOLS.forEach((tool, i) => {
      buttons[i].disabled = !editable
      if (tool.key !== 'undo' && tool.key !== 'redo') buttons[i].setAttribute('aria-pressed', String(tool.active(editor)))
    })
  }
  editor.on('transaction', refresh)
  editor.on('update', refresh)
  refresh()
  return { element: bar, refresh }
}
