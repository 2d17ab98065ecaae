/** Options shared by the transport functions. */
export interface TransportFileOptions {
  /** Replace an existing output. @default false */
  overwrite?: boolean;
}
