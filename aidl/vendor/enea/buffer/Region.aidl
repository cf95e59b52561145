/*
 * Copyright (C) 2026 Enea AB
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *      http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

package vendor.enea.buffer;

/**
 * The shared region as one value: its descriptor, its size and the layout of
 * its control words, returned together by IEneaBuffer.getRegion().
 */
@VintfStability
parcelable Region {
    /**
     * The region's file. The receiver owns it; sealed against shrink, grow
     * and further seals (see IEneaBuffer.getBuffer()).
     */
    ParcelFileDescriptor fd;

    /** The region's size in bytes; > 0, and the size fd is sealed at. */
    long size;

    /**
     * The layout of the control words and records the service keeps in the
     * region: IEneaBuffer.LAYOUT_VERSION of the service's build, or 0 (no
     * layout: word access only, as in V1) if size < IEneaBuffer.CONTROL_SIZE,
     * too small for the control words. A client must not touch offsets the
     * layout reserves unless layoutVersion says they exist.
     */
    int layoutVersion;
}
